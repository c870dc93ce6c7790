"""A stored letter whose bytes no longer match its SHA-256 or its seal is never served, wherever
letters are downloaded: the staff pages, the learner's own area and the API. Each answers in words
(a page, a problem), never a 500, and the failure is logged."""

from __future__ import annotations

import hashlib
import logging

import pytest
from sqlalchemy import select, update

from casework.extensions import db
from casework.models import Letter
from casework.tokens import create_token
from tests.append_only import lifted
from tests.views.conftest import PASSWORD, sign_in

FORGED = b"%PDF-1.7\n% the learner is expelled\n%%EOF\n"


def forge(letter_id: int, *, rehash: bool) -> None:
    """Replace the stored PDF as the database's owner could (the triggers lifted)."""
    values: dict[str, object] = {"pdf": FORGED}
    if rehash:
        values |= {"sha256": hashlib.sha256(FORGED).hexdigest(), "size": len(FORGED)}
    with lifted(db.session.connection()):
        db.session.execute(update(Letter).where(Letter.id == letter_id).values(**values))
    db.session.commit()


@pytest.mark.parametrize("rehash", [False, True], ids=["its hash kept", "its hash recomputed"])
def test_forged_bytes_are_never_served(app, new_client, with_letters, rehash, caplog):
    t, case, account = with_letters
    letters = db.session.scalars(
        select(Letter).where(Letter.case_id == case.id).order_by(Letter.id)
    ).all()
    (own,) = [x for x in letters if x.recipient_kind == "learner"]
    (parents,) = [x for x in letters if x.recipient_kind != "learner"]
    forge(own.id, rehash=rehash)
    caplog.set_level(logging.ERROR)

    staff = new_client()
    sign_in(staff, t.mentor.email)
    page = staff.get(f"/letters/{own.id}")
    assert page.status_code == 409 and page.mimetype == "text/html"
    assert "This letter cannot be shown" in page.text
    assert "failed its integrity check" in page.text and "Tell your administrator" in page.text
    assert FORGED not in page.data
    assert staff.get(f"/letters/{parents.id}").status_code == 200  # the untouched one

    learner = new_client()
    sign_in(learner, account.email, PASSWORD)
    mine = learner.get(f"/my/letters/{own.id}")
    assert mine.status_code == 409 and FORGED not in mine.data
    assert "failed its integrity check" in mine.text

    _, secret = create_token(email=t.mentor.email, name="tests")
    api = app.test_client().get(
        f"/api/v1/letters/{own.id}/pdf", headers={"Authorization": f"Bearer {secret}"}
    )
    assert api.status_code == 409 and api.mimetype == "application/problem+json"
    assert api.json["type"].endswith("/integrity-failed") and FORGED not in api.data

    logged = [r.getMessage() for r in caplog.records if "integrity check" in r.getMessage()]
    assert len(logged) == 3 and all(f"letter {own.id} ({own.reference})" in m for m in logged)
