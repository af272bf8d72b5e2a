"""Terraform into the same model as CloudFormation, so every KQ rule applies unchanged.

Two inputs: a folder of ``.tf``/``.tf.json`` files (parsed by ``hcl``, tree-sitter's HCL grammar, and instantiated
as Terraform does by ``terraform_modules``) and the JSON of ``terraform show -json PLAN`` (``terraform_plan``);
``terraform_stack`` turns either into a Stack. A ``# key-quarantine:acknowledge KQn <reason>`` comment on the
line above a resource (or on its first line) acknowledges a finding there, as ``Validations.of(...).acknowledge``
does in CDK. This module stays light: a CloudFormation scan or a CDK synth imports it and never the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from key_quarantine.rules.model import Stack


class TerraformError(ValueError):
    """Terraform input that cannot be read; ``path`` and the message say which file and why."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


def configuration_files(directory: Path) -> list[Path]:
    """The files Terraform reads in a module folder: ``*.tf`` and ``*.tf.json`` (override files too)."""
    return sorted([*directory.glob("*.tf"), *directory.glob("*.tf.json")])


def is_configuration_folder(path: Path) -> bool:
    """A folder Terraform would read: it holds ``.tf`` or ``.tf.json`` files."""
    return bool(configuration_files(path))


def is_plan(document: Any) -> bool:
    return (
        isinstance(document, Mapping)
        and "format_version" in document
        and ("planned_values" in document or "configuration" in document)
    )


def load_directory(directory: Path, region: str | None = None, *, only: Path | None = None) -> Stack:
    """A folder of ``.tf``/``.tf.json`` files (or ``only`` one file of it), with the modules it calls."""
    from key_quarantine.rules.terraform_stack import stack_of_directory  # noqa: PLC0415 - see the docstring

    if only is None and not configuration_files(directory):
        raise TerraformError(directory, "no .tf or .tf.json files in this folder")
    return stack_of_directory(directory, region, only)


def load_plan(path: Path, document: Mapping[str, Any], region: str | None = None) -> Stack:
    from key_quarantine.rules.terraform_stack import stack_of_plan  # noqa: PLC0415 - see the docstring

    return stack_of_plan(path, document, region)
