"""The distribution as installed: its version, and what its optional extras bring.

The base install is the scanner alone; ``[aws]`` adds boto3 for the commands that act on an account, ``[cdk]``
adds aws-cdk-lib, constructs and cdk-nag for the constructs and the synth-time rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

VERSION = "0.2.0"  # the one place the version is written: pyproject.toml and --version read it

#: The top-level module each extra brings, and the extra's name.
EXTRA_FOR = {
    "aws_cdk": "cdk",
    "constructs": "cdk",
    "cdk_nag": "cdk",
    "jsii": "cdk",
    "boto3": "aws",
    "botocore": "aws",
}


class MissingExtraError(ImportError):
    """A feature needs a module of an optional extra that is not installed."""

    def __init__(self, feature: str, module: str) -> None:
        extra = EXTRA_FOR[module.split(".", maxsplit=1)[0]]
        super().__init__(
            f"{feature} needs {module}, which the scan-only install leaves out: "
            f"pip install 'cdk-key-quarantine[{extra}]'"
        )


@contextmanager
def explained_missing_extra(feature: str) -> Iterator[None]:
    """Turn the import error of a missing extra into one that says what to install; other errors pass."""
    try:
        yield
    except ModuleNotFoundError as error:
        if str(error.name).split(".")[0] not in EXTRA_FOR:
            raise
        raise MissingExtraError(feature, str(error.name)) from None
