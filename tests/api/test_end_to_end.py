"""A half term through the API alone, as an MIS and staff would drive it: set up a programme,
a learner, their parent and sessions; post the registers; run the scan; see the case open;
act on it up to a written warning; download every letter and read it back."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

from casework.models import Role
from tests.case_fixtures import PLAN
from tests.documents.test_letters import text_of

MONDAY = date(2026, 9, 7)


def weekdays(first: date, count: int) -> list[date]:
    days, day = [], first
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def test_half_term_to_a_written_warning_through_the_api(make, api_as, clock, app, monkeypatch):
    monkeypatch.setitem(app.config, "RENDER_LETTERS_ON_ACTION", True)
    admin_user = make.user(Role.ADMINISTRATOR)
    officer_user = make.user(Role.ADMINISTRATION_OFFICER)
    head_user = make.user(Role.HEAD_OF_PROGRAMME, name="Hana Head")
    mentor_user = make.user(Role.TUTOR_MENTOR, name="Mo Mentor")
    admin, officer = api_as(admin_user), api_as(officer_user)
    head, mentor = api_as(head_user), api_as(mentor_user)

    def created(response):
        assert response.status_code == 201, response.json
        return response.json

    programme = created(
        admin.post(
            "/programmes",
            json={
                "code": "HSC3",
                "title": "Level 3 Health and Social Care",
                "policy": "003-green-labyrinth",
                "head_of_programme_ids": [head_user.id],
                "administration_officer_ids": [officer_user.id],
            },
        )
    )
    # The officer adds the learner with their enrolment: a learner on none of the officer's
    # programmes is not theirs to see.
    enrolment = created(
        officer.post(
            "/enrolments",
            json={
                "learner": {
                    "learner_ref": "L900001",
                    "given_name": "Jo",
                    "family_name": "Learner",
                    "date_of_birth": "2010-03-04",
                    "address": "2 Mill Lane\nAshford",
                    "postcode": "TN23 1AA",
                },
                "programme_id": programme["id"],
                "start_date": MONDAY.isoformat(),
                "mentor_id": mentor_user.id,
            },
        )
    )
    learner = officer.get(f"/learners/{enrolment['learner_id']}")
    assert learner.status_code == 200 and learner.json["address"] == "2 Mill Lane\nAshford"
    learner = learner.json
    created(
        officer.post(
            f"/learners/{learner['id']}/contacts",
            json={
                "kind": "parent_carer",
                "name": "Pat Learner",
                "address": "2 Mill Lane\nAshford",
                "postcode": "TN23 1AA",
            },
        )
    )

    def term(days: list[date], codes: str) -> None:
        """Sessions for ``days`` and their marks, one bulk request."""
        for day in days:
            created(
                officer.post(
                    "/sessions",
                    json={
                        "session_ref": f"HSC3-{day:%Y%m%d}",
                        "programme_id": programme["id"],
                        "kind": "workshop",
                        "delivery_mode": "face_to_face",
                        "starts_at": datetime.combine(day, datetime.min.time())
                        .replace(hour=9)
                        .isoformat(),
                        "ends_at": datetime.combine(day, datetime.min.time())
                        .replace(hour=12)
                        .isoformat(),
                    },
                )
            )
        items = [
            {"learner_ref": "L900001", "session_ref": f"HSC3-{day:%Y%m%d}", "code": code}
            for day, code in zip(days, codes, strict=True)
        ]
        posted = officer.post("/marks", json={"items": items})
        assert posted.status_code == 200, posted.json
        assert posted.json["created"] == len(days)

    def scan(day: date) -> dict:
        clock(day)
        report = admin.post("/scan", json={"as_at": day.isoformat(), "render_letters": True})
        assert report.status_code == 200, report.json
        return report.json

    # A half term (six weeks): present, then absent for the last four sessions: 26/30 = 86.7%.
    half_term = weekdays(MONDAY, 30)
    term(half_term, "P" * 26 + "U" * 4)
    figures = officer.get(
        f"/enrolments/{enrolment['id']}/attendance?as_at={half_term[-1].isoformat()}"
    )
    assert figures.status_code == 200 and figures.json["below"] is True

    report = scan(half_term[-1])
    assert len(report["cases_opened"]) == 1
    (case_id,) = report["cases_opened"]

    # The mentor sees the case and gives a verbal warning with an action plan.
    (listed,) = mentor.get("/cases?stage=monitoring").json
    assert listed["id"] == case_id and listed["learner_ref"] == "L900001"
    read = mentor.get(f"/cases/{case_id}")
    assert "give_verbal_warning" in {e["event"] for e in read.json["events_allowed"]}
    warned = mentor.post(
        f"/cases/{case_id}/events",
        json={
            "event": "give_verbal_warning",
            "note": "Talked it through",
            "data": {"action_plan": PLAN},
        },
        headers={"If-Match": read.headers["ETag"]},
    )
    assert warned.status_code == 200, warned.json
    assert warned.json["stage"] == "verbal_warning"

    # A week later, a new absence: the second occurrence; the head issues a written warning.
    next_week = weekdays(half_term[-1] + timedelta(days=1), 5)
    term(next_week, "PPUUU")
    report = scan(next_week[-1])
    assert report["occurrences_recorded"] == [case_id]
    etag = head.get(f"/cases/{case_id}").headers["ETag"]
    written = head.post(
        f"/cases/{case_id}/events",
        json={
            "event": "issue_written_warning",
            "note": "Second occurrence",
            "data": {"action_plan": PLAN},
        },
        headers={"If-Match": etag},
    )
    assert written.status_code == 200, written.json
    assert written.json["stage"] == "written_warning"

    # Every letter, to the learner and to the parent (under 18), downloads as stored.
    letters = head.get(f"/letters?case_id={case_id}").json
    assert sorted((x["template"], x["recipient_kind"]) for x in letters) == sorted(
        (template, recipient)
        for template in ("concern_notice", "verbal_warning", "written_warning")
        for recipient in ("learner", "parent_carer")
    )
    for letter in letters:
        pdf = head.get(f"/letters/{letter['id']}/pdf")
        assert pdf.status_code == 200
        assert hashlib.sha256(pdf.data).hexdigest() == letter["sha256"]
        text = text_of(pdf.data)
        assert "Jo Learner" in text and "L900001" in text and letter["reference"] in text
