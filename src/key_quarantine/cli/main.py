"""``key-quarantine``: the rules on synthesized templates (``scan``); the responder from a shell (``contain``,
``release``, ``respond``)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from key_quarantine.cli import commands, report, sarif
from key_quarantine.distribution import VERSION, MissingExtraError, explained_missing_extra
from key_quarantine.rules.base import Finding, Level
from key_quarantine.rules.loader import InputError, is_template, load_app
from key_quarantine.rules.model import InputRead
from key_quarantine.rules.runner import run_rules

EXIT_OK, EXIT_FINDINGS, EXIT_BAD_INPUT = 0, 1, 2
FAIL_ON_LEVELS = {"error": Level.ERROR, "warning": Level.WARNING, "never": None}


class UsageError(Exception):
    """Bad command-line input; exit 2 with the message."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="key-quarantine",
        description="Find long-lived IAM access keys without quarantine monitoring, leaked secret keys and "
        "monitoring that can never fire (scan); contain a leaked key and undo it (contain, release, respond); find "
        "what events missed and what AWS changed (audit, policies); answer dead-lettered signals (replay-dlq).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scan = subcommands.add_parser(
        "scan",
        help="run the KeyQuarantine rules on a cloud assembly (cdk.out), CloudFormation templates or Terraform",
        description="Exit 1 when an unacknowledged finding is at or above --fail-on, 2 on bad input, else 0.",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH", help="cdk.out directory, template file or folder")
    scan.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    scan.add_argument("--output", metavar="FILE", help="write the report to FILE instead of standard output")
    scan.add_argument("--fail-on", choices=tuple(FAIL_ON_LEVELS), default="error")
    scan.add_argument("--account", help="account of plain templates (a cloud assembly records its own)")
    scan.add_argument("--region", help="region of plain templates (a cloud assembly records its own)")
    scan.add_argument("--verbose", action="store_true", help="show fixes and acknowledged findings")
    scan.add_argument(
        "--changed-files",
        action="store_true",
        help="PATHs are the files a commit changed (pre-commit): a .tf file stands for its folder, and JSON or "
        "YAML that is not a CloudFormation template is left alone",
    )
    commands.add_commands(subcommands)
    commands.add_audit(subcommands)
    commands.add_policies(subcommands)
    commands.add_replay(subcommands)
    commands.add_report(subcommands)
    commands.add_drill(subcommands)
    return parser


def run_scan(arguments: argparse.Namespace) -> int:
    paths = _changed_inputs(arguments.paths) if arguments.changed_files else arguments.paths
    if not paths:
        return EXIT_OK  # a commit that changed no template and no Terraform
    app = load_app(paths, account=arguments.account, region=arguments.region)
    findings = run_rules(app)
    notes = [note for stack in app.stacks for note in stack.notes]
    rendered = _render(findings, arguments.format, verbose=arguments.verbose, notes=notes, inputs=app.inputs)
    if arguments.output:
        _write_atomically(Path(arguments.output), rendered)
        print(report.summary_line(findings))
    else:
        sys.stdout.write(rendered)
    return EXIT_FINDINGS if _fails(findings, FAIL_ON_LEVELS[arguments.fail_on]) else EXIT_OK


def _changed_inputs(files: Sequence[str]) -> list[str]:
    """The inputs a set of changed files stands for: each Terraform folder once, and the templates among the rest."""
    terraform_folders = dict.fromkeys(str(Path(f).parent) for f in files if f.endswith(".tf"))
    templates = [f for f in files if not f.endswith(".tf") and Path(f).is_file() and is_template(Path(f))]
    return [*terraform_folders, *templates]


def _render(
    findings: Sequence[Finding],
    output_format: str,
    *,
    verbose: bool,
    notes: Sequence[str],
    inputs: Sequence[InputRead],
) -> str:
    if output_format == "json":
        return report.as_json(findings, notes=notes, inputs=inputs)
    if output_format == "sarif":
        return sarif.as_sarif(findings)
    return report.as_text(findings, verbose=verbose, notes=notes, inputs=inputs)


def _fails(findings: Sequence[Finding], threshold: Level | None) -> bool:
    if threshold is None:
        return False
    return any(not f.acknowledged and f.level.rank >= threshold.rank for f in findings)


def _write_atomically(path: Path, text: str) -> None:
    """Write the whole report or nothing: an existing file is replaced only once the new one is complete."""
    if not path.parent.is_dir():
        raise UsageError(f"{path}: the folder {path.parent} does not exist")
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        Path(temporary).chmod(0o666 & ~_umask())  # mkstemp makes 0600; a report is an ordinary file
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        Path(temporary).replace(path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write the report ({error.strerror})") from None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        if arguments.command == "scan":
            return run_scan(arguments)
        return _run_aws_command(arguments)
    except (InputError, UsageError, commands.CommandError) as error:
        print(f"key-quarantine: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _run_aws_command(arguments: argparse.Namespace) -> int:
    try:
        with explained_missing_extra(f"key-quarantine {arguments.command}"):
            return _dispatch_aws_command(arguments)
    except MissingExtraError as error:
        raise UsageError(str(error)) from None


def _dispatch_aws_command(arguments: argparse.Namespace) -> int:
    # imported here: botocore and the handlers take ~120 ms to import, and scan needs neither
    from key_quarantine.cli import respond  # noqa: PLC0415

    if arguments.command == "audit":
        return respond.run_audit_command(arguments)
    if arguments.command == "policies":
        return respond.run_policies_command(arguments)
    if arguments.command == "report":
        from key_quarantine.cli import incident_page  # noqa: PLC0415

        return _write_page(incident_page.page(arguments), arguments.output)
    if arguments.command == "drill":
        from key_quarantine.cli import drill  # noqa: PLC0415

        return drill.run_drill(arguments)
    if arguments.command == "replay-dlq":
        from key_quarantine.cli import replay  # noqa: PLC0415

        return replay.run_replay(arguments)
    return respond.run(arguments)


def _write_page(page: str, output: str | None) -> int:
    if output:
        _write_atomically(Path(output), page)
        print(f"wrote {output}")
    else:
        sys.stdout.write(page)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
