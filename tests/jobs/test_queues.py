"""Letters and messages as RQ jobs over a real Redis: queued after the commit, once; the sweeper
queues what was committed but never queued; a job run twice stores one letter and sends one
message; failures are retried, then listed by `casework jobs` and retried on request."""

from __future__ import annotations

from datetime import timedelta

from rq import Retry
from rq.job import Job
from sqlalchemy import func, select

from casework.extensions import db
from casework.jobs import queues as queues_module
from casework.jobs.after_commit import letters_after_commit
from casework.jobs.queues import LETTERS, MESSAGES, enqueue_letters, enqueue_messages, queue
from casework.logs import bind_request_id
from casework.models import DeliveryAttempt, Letter, LetterJob, LetterStatus, MessageStatus
from tests.case_fixtures import PLAN, TERM_START, fire


def queued(redis, name: str) -> list[str]:
    return queue(name, redis).get_job_ids()


def letter_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Letter))


def test_without_redis_nothing_is_queued_and_letters_render_in_process(app, rendering, case_003):
    assert app.config["REDIS_URL"] is None
    t, case, day = case_003
    assert enqueue_letters([1]) is False and enqueue_messages([1]) is False
    result = fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    letters_after_commit(result.letters)
    assert {job.status for job in result.letters} == {LetterStatus.RENDERED}


def test_a_staff_action_queues_its_letters_with_its_request_id(queues, rendering, case_003):
    t, case, day = case_003
    result = fire(t.mentor, case, "give_verbal_warning", today=day, action_plan=PLAN)
    undo = bind_request_id("req-42")
    try:
        letters_after_commit(result.letters)
    finally:
        undo()
    ids = sorted(f"letter-{job.id}" for job in result.letters)
    assert sorted(queued(queues, LETTERS)) == ids
    assert {Job.fetch(i, connection=queues).meta["request_id"] for i in ids} == {"req-42"}
    db.session.expire_all()
    assert {job.status for job in result.letters} == {LetterStatus.PENDING}  # not rendered here
    enqueue_letters([job.id for job in result.letters])  # again: already queued, not twice
    assert sorted(queued(queues, LETTERS)) == ids


def test_the_sweeper_queues_what_was_committed_but_never_queued(queues, case_003, make, runner):
    _t, case, _day = case_003
    message = make.outbox_message(case.enrolment)
    db.session.commit()
    pending = [job.id for job in db.session.scalars(select(LetterJob)).all()]
    assert len(pending) == 2 and queued(queues, LETTERS) == []  # the scan queued nothing
    result = runner.invoke(args=["send-due"])
    assert result.exit_code == 0, result.output
    assert sorted(queued(queues, LETTERS)) == sorted(f"letter-{i}" for i in pending)
    messages = queued(queues, MESSAGES)  # the message, and a report built by this run
    assert f"message-{message.id}" in messages
    assert f"Sweeper: queued 2 letter(s) and {len(messages)} message(s)." in result.output
    again = runner.invoke(args=["send-due"])
    assert "Sweeper: queued 0 letter(s) and 0 message(s)." in again.output
    assert len(queued(queues, LETTERS)) == 2 and queued(queues, MESSAGES) == messages


def test_the_scan_queues_its_letters_once_it_commits(queues, team, make, runner):
    t = team("003-green-labyrinth")
    codes = "PPPPPPPUUU"  # 70%: below the 003 policy's threshold; adults, so one letter each
    make.cohort(t.programme, 3, codes, start=TERM_START, mentor_id=t.mentor.id)
    db.session.commit()
    day = (TERM_START + timedelta(days=len(codes) - 1)).date()
    scanned = runner.invoke(args=["scan", "--date", day.isoformat()])
    assert scanned.exit_code == 0, scanned.output
    assert "Letters queued for the workers." in scanned.output
    jobs = db.session.scalars(select(LetterJob.id)).all()
    assert len(jobs) == 3 and sorted(queued(queues, LETTERS)) == sorted(f"letter-{i}" for i in jobs)
    again = runner.invoke(args=["send-due"])  # the sweeper finds them held: queued once
    assert "Sweeper: queued 0 letter(s)" in again.output


def test_a_job_run_twice_stores_one_letter_and_sends_one_message(queues, work, case_003, make):
    _t, case, _day = case_003
    message = make.outbox_message(case.enrolment, address="sam@example.org")
    db.session.commit()
    jobs = [job.id for job in db.session.scalars(select(LetterJob)).all()]
    for _ in range(2):  # queued, worked, queued again (the first run's job is gone), worked
        assert enqueue_letters(jobs) and enqueue_messages([message.id])
        assert work() == 3
    assert letter_count() == 2
    assert {j.status for j in db.session.scalars(select(LetterJob))} == {LetterStatus.RENDERED}
    db.session.refresh(message)
    assert message.status == MessageStatus.SENT, message.last_error
    attempts = db.session.scalar(select(func.count()).select_from(DeliveryAttempt))
    assert attempts == 1


def test_failed_jobs_are_retried_then_listed_and_requeued_on_request(
    queues, work, runner, monkeypatch
):
    monkeypatch.setattr(queues_module, "RETRY", Retry(max=1))  # at once, to keep the test short
    assert enqueue_letters([987654])  # no such letter job: fails every time
    assert work() == 2  # the run and its retry
    result = runner.invoke(args=["jobs"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "letters: 0 queued, 0 started, 0 scheduled, 1 failed"
    assert lines[1].split()[:2] == ["letter-987654", "casework.jobs.tasks.render_letter(987654)"]
    assert lines[1].endswith("LookupError: no letter job 987654")
    assert lines[2] == "messages: 0 queued, 0 started, 0 scheduled, 0 failed"
    # The sweeper leaves a job RQ gave up on to a person.
    assert "queued 0 letter(s)" in runner.invoke(args=["send-due"]).output
    retried = runner.invoke(args=["jobs", "--retry-failed"])
    assert retried.output.splitlines()[:2] == [
        "Queued 1 failed job(s) again.",
        "letters: 1 queued, 0 started, 0 scheduled, 0 failed",
    ]


def test_the_sweeper_queues_again_a_job_a_killed_worker_took_but_never_started(
    queues, case_003, runner
):
    jobs = sorted(db.session.scalars(select(LetterJob.id)))
    db.session.commit()
    assert enqueue_letters(jobs)
    letters = queue(LETTERS, queues)
    taken = queues.lpop(letters.key).decode()  # as a worker's BLPOP, then SIGKILL
    assert Job.fetch(taken, connection=queues).get_status() == "queued"  # but in no list
    first = runner.invoke(args=["send-due"])
    assert "Sweeper: queued 0 letter(s)" in first.output  # noted: a live worker may be starting it
    second = runner.invoke(args=["send-due"])
    assert "Sweeper: queued 1 letter(s)" in second.output  # still in no list: lost, so queued
    assert sorted(letters.get_job_ids()) == sorted(f"letter-{i}" for i in jobs)
