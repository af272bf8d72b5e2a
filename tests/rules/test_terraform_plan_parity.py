"""The same configuration gives the same findings from its HCL and from its plan JSON.

The plans under fixtures/terraform/plans/ were written by the real terraform (1.11, AWS provider 5.100) with
scripts/terraform_plans.py, offline; rerun it after changing a fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from key_quarantine.rules.runner import scan_paths

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
PLANS = sorted((FIXTURES / "plans").glob("*.json"))
#: What a plan cannot show, with the reason: Terraform's plan JSON has no locals and no comments.
PLAN_CANNOT_SEE = {
    "expressions": {("KQ2", "aws_ssm_parameter.through_local")},  # the secret goes through local.app_secret
}


def findings(path: Path) -> set[tuple[str, str, str]]:
    return {(f.rule_id, f.logical_id, f.level.value) for f in scan_paths([path])}


def test_every_plannable_fixture_has_a_plan() -> None:
    folders = {path.name for path in FIXTURES.iterdir() if path.is_dir()}
    assert {plan.stem for plan in PLANS} == folders - {"broken", "plans", "files", "syntax"}


@pytest.mark.parametrize("plan", PLANS, ids=lambda plan: plan.stem)
def test_plan_and_configuration_give_the_same_findings(plan: Path) -> None:
    from_hcl = findings(FIXTURES / plan.stem)
    from_plan = findings(plan)
    unseen = {
        (rule, address, level)
        for rule, address, level in from_hcl
        if (rule, address) in PLAN_CANNOT_SEE.get(plan.stem, set())
    }
    assert from_hcl - unseen == from_plan
    assert len(unseen) == len(PLAN_CANNOT_SEE.get(plan.stem, set()))  # the exception is still needed
    assert from_plan or plan.stem == "monitored"


def test_plan_resolves_a_root_output_fed_by_a_module_output() -> None:
    # module.iam_user2's output is try(aws_iam_access_key.this_no_pgp[0].secret, ""): unknown in the plan
    found = findings(PLANS[0].parent / "iam_user_examples.json")
    assert ("KQ2", "iam_access_key_secret", "error") in found
    assert ("KQ2", "alice_secret", "error") in found
