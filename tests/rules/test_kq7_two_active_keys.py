"""KQ7: one user, several active keys (across stacks too)."""

from __future__ import annotations

from pathlib import Path

from tests.cfn import access_key, ids, scan, template, user


def test_two_active_keys_are_flagged(tmp_path: Path) -> None:
    resources = {"U": user(), "K1": access_key({"Ref": "U"}), "K2": access_key({"Ref": "U"})}
    findings = scan(tmp_path, {"App": template(resources)}, rule="KQ7")
    assert ids(findings) == [("KQ7", "U")]
    assert "'K1'" in findings[0].message
    assert "'K2'" in findings[0].message


def test_keys_in_two_stacks_for_one_user_name_are_flagged(tmp_path: Path) -> None:
    first = template({"U": user("ci"), "K1": access_key({"Ref": "U"})})
    second = template({"K2": access_key("ci")})
    assert ids(scan(tmp_path, {"A": first, "B": second}, rule="KQ7")) == [("KQ7", "U")]


def test_one_active_and_one_inactive_key_is_compliant(tmp_path: Path) -> None:
    resources = {
        "U": user(),
        "K1": access_key({"Ref": "U"}),
        "K2": access_key({"Ref": "U"}, Status="Inactive"),
    }
    assert scan(tmp_path, {"App": template(resources)}, rule="KQ7") == []


def test_keys_of_different_users_are_not_applicable(tmp_path: Path) -> None:
    resources = {"U": user(), "V": user(), "K1": access_key({"Ref": "U"}), "K2": access_key({"Ref": "V"})}
    assert scan(tmp_path, {"App": template(resources)}, rule="KQ7") == []
