"""create-token, list-tokens and revoke-token, as an administrator would run them."""

from __future__ import annotations

from casework.models import Role


def test_create_list_and_revoke_a_token(runner, make, client):
    user = make.user(Role.ADMINISTRATION_OFFICER, email="officer@example.org")
    created = runner.invoke(args=["create-token", "Officer@Example.org", "--name", "MIS sync"])
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("cw_") and len(secret) > 40
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/cases", headers=headers).status_code == 200

    listed = runner.invoke(args=["list-tokens", "--user", user.email])
    assert "MIS sync" in listed.output and "live" in listed.output
    assert secret not in listed.output  # only its first characters
    token_id = listed.output.split("\t", 1)[0]

    revoked = runner.invoke(args=["revoke-token", token_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert client.get("/api/v1/cases", headers=headers).status_code == 401
    assert "revoked" in runner.invoke(args=["list-tokens"]).output


def test_token_for_unknown_or_inactive_user_is_refused(runner, make):
    unknown = runner.invoke(args=["create-token", "nobody@example.org"])
    assert unknown.exit_code != 0 and "There is no user nobody@example.org" in unknown.output
    make.user(Role.TUTOR_MENTOR, email="gone@example.org", active=False)
    inactive = runner.invoke(args=["create-token", "gone@example.org"])
    assert inactive.exit_code != 0 and "not active" in inactive.output
    assert runner.invoke(args=["revoke-token", "999"]).exit_code != 0
