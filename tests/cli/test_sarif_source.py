"""SARIF for a CDK app points at the app's own source line when CDK recorded where the construct was made.

The app here is a real JavaScript CDK app, synthesized by node with the aws-cdk-lib that jsii ships inside the
Python package (the same release), under ``CDK_DEBUG=true`` as ``cdk synth --debug`` runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import aws_cdk
import pytest
from aws_cdk import aws_iam as iam

import constructs
from key_quarantine.cli.main import main
from tests.cdk_apps import synth

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node, as every CDK synth does")

STACK = """const cdk = require('aws-cdk-lib');
const iam = require('aws-cdk-lib/aws-iam');
class UsersStack extends cdk.Stack {
  constructor(scope, id) {
    super(scope, id);
    const user = new iam.User(this, 'Deployer');
    new iam.AccessKey(this, 'DeployerKey', { user });
  }
}
module.exports = { UsersStack };
"""
APP = """const cdk = require('aws-cdk-lib');
const { UsersStack } = require('./lib/users');
const app = new cdk.App({ outdir: process.argv[2] });
new UsersStack(app, 'Users');
app.synth();
"""


def install_js(package_dir: Path, node_modules: Path, name: str) -> None:
    (tarball,) = (package_dir / "_jsii").glob("*.jsii.tgz")
    target = node_modules / name
    with tarfile.open(tarball) as archive:
        code = [
            m for m in archive if not m.name.endswith((".d.ts", ".md", ".jsii", ".map"))
        ]  # node needs no more
        archive.extractall(target.parent / "_unpack", members=code, filter="data")
    (target.parent / "_unpack" / "package").rename(target)
    (target.parent / "_unpack").rmdir()


@pytest.fixture(scope="module")
def js_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("js-app")
    modules = root / "node_modules"
    (modules / "@aws-cdk").mkdir(parents=True)
    install_js(Path(aws_cdk.__file__).parent, modules, "aws-cdk-lib")
    install_js(Path(constructs.__file__).parent, modules, "constructs")
    for python_name, js_name in (
        ("cloud_assembly_schema", "cloud-assembly-schema"),
        ("asset_awscli_v1", "asset-awscli-v1"),
        ("asset_node_proxy_agent_v6", "asset-node-proxy-agent-v6"),
    ):
        install_js(Path(aws_cdk.__file__).parent / python_name, modules / "@aws-cdk", js_name)
    (root / "lib").mkdir()
    (root / "lib" / "users.js").write_text(STACK)
    (root / "app.js").write_text(APP)
    subprocess.run(
        ["node", "app.js", str(root / "cdk.out")],
        cwd=root,
        env={**os.environ, "CDK_DEBUG": "true"},
        check=True,
        capture_output=True,
    )
    return root


def test_a_finding_points_at_the_line_that_made_the_construct_then_at_the_template(
    js_app: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the assembly of an app whose user (line 6 of lib/users.js) holds an unmonitored key
    monkeypatch.chdir(js_app)
    # When it is scanned to SARIF
    assert main(["scan", "cdk.out", "--format", "sarif"]) == 1
    (result,) = [r for r in json.loads(capsys.readouterr().out)["runs"][0]["results"] if r["ruleId"] == "KQ1"]
    # Then the first location is the source line, the second the template's
    source, template = (location["physicalLocation"] for location in result["locations"])
    assert source["artifactLocation"]["uri"] == "lib/users.js"
    assert (
        source["region"]["startLine"]
        == STACK.splitlines().index("    const user = new iam.User(this, 'Deployer');") + 1
    )
    assert template["artifactLocation"]["uri"] == "cdk.out/Users.template.json"


def test_a_python_app_has_no_frame_of_its_own_so_the_template_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Python app (its creation stacks hold only jsii's and aws-cdk-lib's frames)
    def build(app: aws_cdk.App) -> None:
        stack = aws_cdk.Stack(app, "Users")
        iam.AccessKey(stack, "DeployerKey", user=iam.User(stack, "Deployer"))

    monkeypatch.setenv("CDK_DEBUG", "true")
    assembly = synth(tmp_path / "cdk.out", build, fail_on_errors=False)
    monkeypatch.chdir(tmp_path)
    # When it is scanned to SARIF, each result has the one template location
    assert main(["scan", str(assembly), "--format", "sarif"]) == 1
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert results
    assert all(
        [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in r["locations"]]
        == ["cdk.out/Users.template.json"]
        for r in results
    )
