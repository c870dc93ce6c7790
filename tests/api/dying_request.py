"""A worker that dies in the middle of an idempotent API request, run as its own process.

``python -m tests.api.dying_request SETTINGS`` (SETTINGS: JSON with the database URL, a token,
the case, its version, the key, the clock and ``stop``) warns on the case through the API with
the key and stops the request at ``stop``: ``before-commit``, the action done but not committed;
``after-commit``, the action committed but its response not yet stored. It prints ``stopped``
there and waits to be killed (SIGKILL: nothing of the request's clean-up runs)."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime

import time_machine

import casework.api.resources.cases as cases_api
from casework import create_app

STOPS = ("before-commit", "after-commit")


def _stop() -> None:
    print("stopped", flush=True)
    sys.stdin.readline()  # killed here; a parent that went away ends it without finishing
    os._exit(3)


def main(settings: dict) -> None:
    act, stop = cases_api.act, settings["stop"]
    if stop == "before-commit":

        def acting(**kwargs):
            act(**kwargs, commit=False)  # everything written and flushed, nothing committed
            _stop()

        cases_api.act = acting
    else:
        cases_api._render = lambda result: _stop()  # act has committed; the response is next
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": settings["database_url"],
            "RENDER_LETTERS_ON_ACTION": False,
        }
    )
    with time_machine.travel(datetime.fromisoformat(settings["now"]), tick=True):
        app.test_client().post(
            f"/api/v1/cases/{settings['case_id']}/events",
            json=settings["body"],
            headers={
                "Authorization": f"Bearer {settings['secret']}",
                "If-Match": f'"{settings["version"]}"',
                "Idempotency-Key": settings["key"],
            },
        )
    print("finished", flush=True)  # never: the request stops first


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
