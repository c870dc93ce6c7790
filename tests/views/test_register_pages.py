"""The register pages: the sessions of a day and what is not taken; taking a register (through
the register import: figures, history and checks as for a file); correcting a mark with its
history kept; an authorised absence with its evidence; uploading a register file."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from casework.extensions import db
from casework.models import Mark, MarkChange, RegisterImport
from casework.registers.figures import figures_for
from tests.views.conftest import csrf_token, sign_in
from tests.views.test_learner_pages import officer_of

DAY = date(2026, 9, 17)  # the day after the opened case's last mark
HEADER = (
    "learner_id,session_id,code,minutes_late,absence_reason,evidence_ref,recorded_by,recorded_at"
)


def _world(opened, make, clock):
    """The opened case's programme with a second learner, a session on DAY and its officer."""
    t, case = opened
    second = t.learner(born=date(2009, 2, 2))
    session = make.session(t.programme, datetime(2026, 9, 17, 9, 0), title="Maths workshop")
    officer = officer_of(make, t.programme)
    clock(DAY)
    db.session.commit()
    return t, case.enrolment, second, session, officer


def _post(client, path, data):
    token = csrf_token(client.get(path).text)
    return client.post(path, data={"csrf_token": token, **data})


def test_todays_sessions_come_with_not_taken_tags(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    earlier = make.session(t.programme, datetime(2026, 9, 15, 14, 0), title="Science lab")
    make.session(t.other_programme, datetime(2026, 9, 17, 10, 0), title="Not theirs")
    db.session.commit()
    sign_in(client, officer.email)
    page = client.get("/registers").text
    today = page.split("Not taken in the last 14 days")[0]
    assert "Today, 17 September 2026" in today and "Maths workshop" in today
    assert "Not taken</strong>" in today and "0 of 2 marked" in today
    assert "Not theirs" not in page
    assert f"/registers/sessions/{earlier.id}" in page.split("Not taken in the last 14 days")[1]
    assert 'name="register"' in page  # the upload form
    other_day = client.get("/registers?day=2026-09-15").text
    assert "Science lab" in other_day and "Maths workshop" not in other_day
    assert client.get("/registers?day=not-a-day").status_code == 200


def test_an_administrator_sees_every_programmes_sessions_or_one_programmes(
    client, opened, make, clock
):
    t, _first, _second, _session, _officer = _world(opened, make, clock)
    make.session(t.other_programme, datetime(2026, 9, 17, 10, 0), title="Elsewhere")
    db.session.commit()
    sign_in(client, t.admin.email)
    page = client.get("/registers").text
    assert "Maths workshop" in page and "Elsewhere" in page
    assert f'<option value="{t.other_programme.id}"' in page
    page = client.get(f"/registers?programme={t.other_programme.id}&day=2026-09-17").text
    assert "Maths workshop" not in page and "Elsewhere" in page
    assert f"programme={t.other_programme.id}" in page  # kept by the other days' links


def test_taking_a_register_moves_the_learners_figures(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    before = figures_for(first.id, DAY)
    sign_in(client, officer.email)
    path = f"/registers/sessions/{session.id}"
    page = client.get(path).text
    assert page.count('<select class="govuk-select" id="code-') == 2
    assert f'<label class="govuk-label govuk-visually-hidden" for="code-{first.id}">' in page
    response = _post(
        client,
        path,
        {
            f"code-{first.id}": "L",
            f"minutes-{first.id}": "10",
            f"code-{second.id}": "A",
            f"reason-{second.id}": "illness",
            f"evidence-{second.id}": "Doctor's note 14/9",
        },
    )
    assert response.status_code == 303
    page = client.get(path).text
    assert "Register saved: 2 new, 0 changed and 0 unchanged marks." in page
    after = figures_for(first.id, DAY)
    assert (after.possible, after.attended, after.late) == (
        before.possible + 1,
        before.attended + 1,
        before.late + 1,
    )
    marks = {
        m.enrolment_id: m
        for m in db.session.scalars(select(Mark).where(Mark.session_id == session.id))
    }
    assert marks[first.id].minutes_late == 10 and marks[first.id].recorded_by == officer.email
    assert marks[second.id].absence_reason.value == "illness"
    assert marks[second.id].evidence_ref == "Doctor's note 14/9"
    source = db.session.get(RegisterImport, marks[first.id].import_id).filename
    assert source == f"Register page: {session.session_ref}"
    # The learner's page shows the new figure.
    learner_page = client.get(f"/learners/{first.learner_id}").text
    assert "81.8%</span> (9 of 11 sessions)" in learner_page
    # The list of the day says taken.
    assert "Taken</strong>" in client.get("/registers").text


def test_a_register_can_start_with_everyone_present(client, opened, make, clock):
    _t, first, second, session, officer = _world(opened, make, clock)
    make.mark(first, session, "U")
    db.session.commit()
    sign_in(client, officer.email)
    path = f"/registers/sessions/{session.id}"
    assert "Start with everyone not yet marked as present" in client.get(path).text
    page = client.get(path + "?fill=P").text
    selected = dict(re.findall(r'id="code-(\d+)".*?<option value="(\w)" selected', page, re.S))
    assert selected == {str(first.id): "U", str(second.id): "P"}
    assert len(db.session.scalars(select(Mark).where(Mark.session_id == session.id)).all()) == 1


def test_register_problems_are_shown_per_row_and_nothing_is_saved(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    sign_in(client, officer.email)
    path = f"/registers/sessions/{session.id}"
    # A learner left without a mark.
    page = _post(client, path, {f"code-{first.id}": "P"}).text
    assert "There is a problem" in page
    assert f'href="#code-{second.id}"' in page
    assert f"Choose a mark for {second.learner.full_name}" in page
    # The import's own checks, per row: a reason missing; minutes late on a present mark.
    page = _post(
        client,
        path,
        {f"code-{first.id}": "P", f"minutes-{first.id}": "5", f"code-{second.id}": "A"},
    ).text
    assert f'href="#minutes-{first.id}"' in page and f'href="#reason-{second.id}"' in page
    assert "Minutes late is only for late arrivals" in page
    assert "needs a reason" in page
    assert 'class="govuk-select govuk-select--error"' in page
    # What was entered is kept.
    assert re.search(rf'id="minutes-{first.id}"[^>]*value="5"', page)
    assert db.session.scalar(select(Mark.id).where(Mark.session_id == session.id)) is None


def test_only_the_policys_authorised_reasons_are_accepted(client, opened, make, clock):
    _t, first, second, session, officer = _world(opened, make, clock)
    sign_in(client, officer.email)
    path = f"/registers/sessions/{session.id}"
    page = client.get(path).text
    assert 'value="illness"' in page and 'value="jury_service"' not in page  # not in 003
    page = _post(
        client,
        path,
        {
            f"code-{first.id}": "A",
            f"reason-{first.id}": "jury_service",
            f"code-{second.id}": "P",
        },
    ).text
    assert f'href="#reason-{first.id}"' in page
    assert "is not one this programme&#39;s policy accepts" in page
    assert db.session.scalar(select(Mark.id).where(Mark.session_id == session.id)) is None


def test_a_head_sees_the_register_but_cannot_save_it(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    make.mark(first, session, "P")
    db.session.commit()
    sign_in(client, t.head.email)
    path = f"/registers/sessions/{session.id}"
    page = client.get(path).text
    assert "Save register" not in page and "<select" not in page
    assert "Present" in page and "Not marked" in page
    assert (
        _post(client, path, {f"code-{first.id}": "U", f"code-{second.id}": "U"}).status_code == 403
    )
    mark = db.session.scalars(select(Mark).where(Mark.session_id == session.id)).one()
    assert client.get(f"/registers/marks/{mark.id}").status_code == 200
    assert "Save the mark" not in client.get(f"/registers/marks/{mark.id}").text
    assert (
        _post(client, f"/registers/marks/{mark.id}", {"code": "U", "why": "x"}).status_code == 403
    )
    db.session.refresh(mark)
    assert mark.code.code == "P"


def test_correcting_a_mark_keeps_its_history_and_its_reason(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    mark = make.mark(first, session, "U")
    db.session.commit()
    before = figures_for(first.id, DAY)
    sign_in(client, officer.email)
    path = f"/registers/marks/{mark.id}"
    page = _post(client, path, {"code": "A", "reason": "illness"}).text
    assert "Enter why the mark is changing" in page and 'href="#why"' in page
    response = _post(
        client,
        path,
        {
            "code": "A",
            "reason": "medical_appointment",
            "evidence": "Dentist's letter",
            "why": "Mother rang with the appointment letter",
        },
    )
    assert response.status_code == 303
    page = client.get(path).text
    assert "Mark corrected." in page
    history = page.split(">History<")[1]
    assert history.index("Authorised absence") < history.index("Unauthorised absence")
    assert "Corrected: Mother rang with the appointment letter" in history
    assert "Dentist&#39;s letter" in history or "Dentist's letter" in history
    change = db.session.scalars(select(MarkChange).where(MarkChange.mark_id == mark.id)).one()
    assert change.previous_code.code == "U" and change.changed_by == officer.email
    after = figures_for(first.id, DAY)
    assert (after.authorised, after.unauthorised) == (
        before.authorised + 1,
        before.unauthorised - 1,
    )
    # The same again changes nothing.
    _post(
        client,
        path,
        {
            "code": "A",
            "reason": "medical_appointment",
            "evidence": "Dentist's letter",
            "why": "again",
        },
    )
    assert "Nothing changed" in client.get(path).text
    assert (
        len(db.session.scalars(select(MarkChange).where(MarkChange.mark_id == mark.id)).all()) == 1
    )


def test_a_correction_the_import_refuses_shows_why(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    mark = make.mark(first, session, "P")
    db.session.commit()
    sign_in(client, officer.email)
    page = _post(client, f"/registers/marks/{mark.id}", {"code": "A", "why": "Was ill"}).text
    assert "There is a problem" in page and 'href="#reason"' in page
    db.session.refresh(mark)
    assert mark.code.code == "P"


def _upload(client, content: bytes, filename: str = "register.csv"):
    """Post a register file as a browser would (the body built here, in memory: the test
    client's own encoding spools a big file to disk and leaves it open)."""
    token = csrf_token(client.get("/registers").text)
    boundary = "casework-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="register"; '
            f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        "/registers/upload", data=body, content_type=f"multipart/form-data; boundary={boundary}"
    )


def test_uploading_a_register_imports_it(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    sign_in(client, officer.email)
    body = (
        f"{HEADER}\n{first.learner.learner_ref},{session.session_ref},P,,,,,\n"
        f"{second.learner.learner_ref},{session.session_ref},L,5,,,,\n"
    ).encode()
    page = _upload(client, body).text
    assert "Register imported" in page
    assert re.search(r"New marks</dt><dd[^>]*>2<", page)
    assert len(db.session.scalars(select(Mark).where(Mark.session_id == session.id)).all()) == 2


def test_an_uploaded_register_with_bad_rows_shows_each_and_imports_nothing(
    client, opened, make, clock
):
    t, first, second, session, officer = _world(opened, make, clock)
    foreign = make.session(t.other_programme, datetime(2026, 9, 17, 9, 0))
    db.session.commit()
    sign_in(client, officer.email)
    body = (
        f"{HEADER}\n{first.learner.learner_ref},{session.session_ref},Q,,,,,\n"
        f"{second.learner.learner_ref},{session.session_ref},P,,,,,\n"
        f"{second.learner.learner_ref},{foreign.session_ref},P,,,,,\n"
        f"{first.learner.learner_ref},{session.session_ref},A,,,,,\n"
        # What no field may hold, and a formula: the same checks as the API's and the command's.
        f"{second.learner.learner_ref},{session.session_ref},P,,,,\x00,\n"
        f"{second.learner.learner_ref},{session.session_ref},P,,,,@cmd,\n"
    ).encode()
    page = _upload(client, body).text
    assert "The register was not imported" in page
    table = page.split('id="problems"')[1].split("</table>")[0]
    rows = re.findall(
        r'<td class="govuk-table__cell govuk-table__cell--numeric">(\d+)</td>\s*'
        r'<td class="govuk-table__cell">(\w*)</td>\s*<td class="govuk-table__cell">(.*?)</td>',
        table,
    )
    assert [(row, column) for row, column, _ in rows] == [
        ("2", "code"),
        ("4", "session_id"),
        ("5", "absence_reason"),
        ("6", "recorded_by"),
        ("7", "recorded_by"),
    ]
    assert "Unknown code &#39;Q&#39;" in rows[0][2] or "Unknown code 'Q'" in rows[0][2]
    assert "Code A needs an absence_reason" in rows[2][2]
    assert db.session.scalar(select(Mark.id).where(Mark.session_id == session.id)) is None


def test_an_upload_that_is_not_a_register_file_says_why(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    sign_in(client, officer.email)
    cases = [
        (b"", "register.csv", "The selected file is empty"),
        (b"%PDF-1.7 \xff\xfe\x00", "register.pdf", "The selected file must be a CSV"),
        (HEADER.encode() + b"\n\xff\xfe,x\n", "register.csv", "is not UTF-8 text"),
        (b"name,code\nSam,P\n", "register.csv", "wrong header"),
        (HEADER.encode() + b"\n", "register.csv", "has a header but no register rows"),
        (b"a" * (5 * 1024 * 1024 + 10), "register.csv", "must be smaller than 5 MB"),
    ]
    for content, filename, message in cases:
        response = _upload(client, content, filename)
        assert response.status_code == 200, filename
        assert "There is a problem" in response.text, message
        assert message in response.text, message
    token = csrf_token(client.get("/registers").text)
    page = client.post("/registers/upload", data={"csrf_token": token}).text
    assert "Select a register file to upload" in page


def test_only_register_keepers_may_upload(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    sign_in(client, t.head.email)
    assert 'name="register"' not in client.get("/registers").text
    assert _upload(client, HEADER.encode()).status_code == 403


def test_sessions_and_marks_outside_scope_are_not_found(client, opened, make, clock):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    stranger = make.enrolment(programme=t.other_programme)
    foreign = make.session(t.other_programme, datetime(2026, 9, 17, 9, 0))
    foreign_mark = make.mark(stranger, foreign, "P")
    db.session.commit()
    sign_in(client, officer.email)
    assert client.get(f"/registers/sessions/{foreign.id}").status_code == 404
    assert client.get(f"/registers/marks/{foreign_mark.id}").status_code == 404
    assert _post(client, f"/registers/sessions/{session.id}", {}).status_code == 200
    token = csrf_token(client.get("/registers").text)
    assert (
        client.post(f"/registers/marks/{foreign_mark.id}", data={"csrf_token": token}).status_code
        == 404
    )


def test_the_register_page_runs_as_many_statements_for_many_learners_as_for_few(
    client, opened, make, clock, statements
):
    t, first, second, session, officer = _world(opened, make, clock)  # noqa: RUF059
    make.mark(first, session, "P")
    db.session.commit()
    sign_in(client, officer.email)
    path = f"/registers/sessions/{session.id}"
    few = statements(client, path)
    for _ in range(12):
        enrolment = t.learner()
        make.mark(enrolment, session, "L", minutes_late=3)
    db.session.commit()
    assert statements(client, path) == few
    day = statements(client, "/registers")
    for _ in range(5):
        make.session(t.programme, datetime(2026, 9, 17, 14, 0))
    db.session.commit()
    assert statements(client, "/registers") == day


@pytest.mark.parametrize(
    ("field", "code", "value", "message"),
    [
        ("evidence", "A", "=HYPERLINK(1)", "Evidence starts with &#39;=&#39;"),
        ("evidence", "A", "-1+1", "Evidence starts with &#39;-&#39;"),
        ("evidence", "A", "GP\x00123", "Evidence contains characters that cannot be kept"),
        ("evidence", "A", "E" * 121, "Evidence is longer than 120 characters"),
        ("minutes", "L", "\u0663", "Minutes late &#39;\u0663&#39; is not a whole number"),
        ("minutes", "L", "1_0", "Minutes late &#39;1_0&#39; is not a whole number"),
    ],
    ids=["formula", "minus", "nul", "long", "arabic-indic-digit", "underscore"],
)
def test_a_register_entry_the_import_refuses_is_named_and_nothing_is_saved(
    client, opened, make, clock, field, code, value, message
):
    _t, first, second, session, officer = _world(opened, make, clock)
    sign_in(client, officer.email)
    path = f"/registers/sessions/{session.id}"
    entry = {f"code-{first.id}": code, f"{field}-{first.id}": value, f"code-{second.id}": "P"}
    if code == "A":
        entry[f"reason-{first.id}"] = "illness"
    page = _post(client, path, entry).text
    assert "There is a problem" in page and f'href="#{field}-{first.id}"' in page
    assert message in page
    assert db.session.scalar(select(Mark.id).where(Mark.session_id == session.id)) is None


def test_a_correction_whose_reason_cannot_be_kept_is_refused(client, opened, make, clock):
    _t, first, _second, session, officer = _world(opened, make, clock)
    mark = make.mark(first, session, "P")
    db.session.commit()
    sign_in(client, officer.email)
    page = _post(client, f"/registers/marks/{mark.id}", {"code": "U", "why": "Rang\x00 in"}).text
    assert "There is a problem" in page and 'href="#why"' in page
    assert "Why the mark is changing contains characters that cannot be kept" in page
    db.session.refresh(mark)
    assert mark.code.code == "P"
    assert db.session.scalar(select(func.count()).select_from(RegisterImport)) == 0
