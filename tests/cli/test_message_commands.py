"""casework send-due, through the real CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest

from casework.models.types import utcnow
from tests.messages.conftest import message


def test_send_due_sends_once_and_says_what_it_did(runner, app):
    due = utcnow() - timedelta(minutes=1)
    message("absence:mark:1:email:learner", due_at=due)
    # Nothing configured: the development transport logs instead of sending.
    first = runner.invoke(args=["send-due"])
    second = runner.invoke(args=["send-due"])

    assert first.exit_code == 0, first.output
    assert first.stdout == "Outbox: sent 1, failed 0, retrying 0, cancelled 0.\n"
    assert second.stdout == "Outbox: sent 0, failed 0, retrying 0, cancelled 0.\n"


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        (
            {"SMTP_HOST": "mail.example.org", "SMTP_SECURITY": "ssl"},
            "CASEWORK_SMTP_SECURITY is 'ssl': use one of starttls, tls, none",
        ),
        (
            {"SEND_MAX_ATTEMPTS": "many"},
            "CASEWORK_SEND_MAX_ATTEMPTS is 'many': give a number above 0",
        ),
        ({"SEND_LEASE_SECONDS": 0}, "CASEWORK_SEND_LEASE_SECONDS is 0: give a number above 0"),
    ],
)
def test_send_due_names_a_bad_setting_without_a_traceback(runner, app, settings, error):
    app.config.update(settings)
    try:
        result = runner.invoke(args=["send-due"])
    finally:
        for name in settings:
            app.config.pop(name)

    assert result.exit_code == 1
    assert result.output == f"Error: {error}\n"
