"""The known attacker's recorded CloudTrail history (shared by the trail tests, the report tests and the bench)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.handlers.cloudtrail_replay import History

ACCOUNT = "111122223333"
KEY = "AKIAIOSFODNN7EXAMPLE"
ROLE_SESSION_KEY = "ASIAROLESESSION00001"
CHAINED_KEY = "ASIACHAINEDSESSION01"
SIGNAL = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
REGIONS = ("us-east-1", "eu-west-1")


def attacker_history(session_name: str = "i-0abc") -> History:
    """Twenty minutes before the signal: a backdoor user with a key and a password, a role session, a role that
    trusts an outside account, a chained session writing a policy, and miners in another region."""
    history = History(ACCOUNT)
    start = SIGNAL - timedelta(minutes=20)
    history.call(KEY, "GetCallerIdentity", start, source="sts.amazonaws.com", read_only=True)
    history.call(KEY, "CreateUser", start + timedelta(minutes=1), request={"userName": "backup-admin"})
    history.access_key(KEY, start + timedelta(minutes=2), "backup-admin", "AKIABACKDOOR00000001")
    history.call(
        KEY, "CreateLoginProfile", start + timedelta(minutes=3), request={"userName": "backup-admin"}
    )
    history.call(
        KEY,
        "AttachUserPolicy",
        start + timedelta(minutes=3, seconds=30),
        request={"userName": "backup-admin", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    )
    history.call(
        KEY, "CreateUser", start + timedelta(minutes=4), request={"userName": "denied"}, error="AccessDenied"
    )
    session_arn = history.assume_role(
        KEY, start + timedelta(minutes=5), "deploy", session_name, ROLE_SESSION_KEY
    )
    history.call(
        ROLE_SESSION_KEY,
        "CreateRole",
        start + timedelta(minutes=6),
        session_arn=session_arn,
        request={
            "roleName": "support-access",
            "assumeRolePolicyDocument": '{"Principal":{"AWS":"999988887777"}}',
        },
        response={"role": {"arn": f"arn:aws:iam::{ACCOUNT}:role/support-access"}},
    )
    history.call(
        ROLE_SESSION_KEY,
        "CreateCluster",
        start + timedelta(minutes=7),
        session_arn=session_arn,
        source="ecs.amazonaws.com",
        region="eu-west-1",
    )
    history.session_token(
        ROLE_SESSION_KEY, start + timedelta(minutes=8), CHAINED_KEY, session_arn=session_arn
    )
    history.call(
        CHAINED_KEY,
        "PutUserPolicy",
        start + timedelta(minutes=9),
        session_arn=session_arn,
        request={"userName": "backup-admin", "policyName": "ops", "policyDocument": "{}"},
    )
    history.access_key(KEY, SIGNAL - timedelta(minutes=1), "leaked-deployer", "AKIALATEKEY000000001")
    return history
