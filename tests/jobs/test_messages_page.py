"""Failed queue work shown to staff: a line on the Messages page for administrators and heads."""

from __future__ import annotations

from rq import Retry

from casework.extensions import db
from casework.jobs import queues as queues_module
from casework.jobs.queues import enqueue_letters
from casework.models import Role
from tests.views.conftest import sign_in

LINE = 'id="job-queue"'


def page_for(new_client, user) -> str:
    client = new_client()
    assert sign_in(client, user.email).status_code == 303
    return client.get("/messages").get_data(as_text=True)


def test_administrators_and_heads_see_failed_jobs(app, queues, work, make, new_client, monkeypatch):
    admin, head, tutor = (
        make.user(Role.ADMINISTRATOR),
        make.user(Role.HEAD_OF_PROGRAMME),
        make.user(Role.TUTOR_MENTOR),
    )
    db.session.commit()
    assert LINE not in page_for(new_client, admin)  # nothing failed: no line
    monkeypatch.setattr(queues_module, "RETRY", Retry(max=1))
    assert enqueue_letters([987654])  # no such letter job
    work()
    for user in (admin, head):
        page = page_for(new_client, user)
        assert LINE in page
        assert "1 failed job waits for an administrator to run" in page
    assert LINE not in page_for(new_client, tutor)
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens
    assert "The job queue (Redis) does not answer" in page_for(new_client, admin)
