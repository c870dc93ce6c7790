"""The case page: the learner, the stage, the workflow, the timeline, the plan, what is due, the
letters, and the next steps this user may take, as forms built from each event's schema.

A step is sent through the case service (``act``), as the API sends it, with the version of the
case the person read: a refusal comes back onto the page in words (a form's problems 422, a
guard or a case changed meanwhile 409, a step this person may not take 403), and a step taken
renders its letters after the commit and returns to the case (303). A preview runs the step
without keeping anything and returns its letters as one PDF.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from casework import scope
from casework.cases.queries import case_page, step_rules
from casework.cases.service import act, preview, stage_name
from casework.errors import Forbidden, GuardFailed, InvalidData, NotAllowed, Stale
from casework.extensions import db
from casework.jobs.after_commit import letters_after_commit
from casework.models import Case
from casework.views.case_diagram import workflow_diagram
from casework.views.event_forms import EventForm, field_words, form_for
from casework.views.pages import staff_blueprint, staff_user

bp = staff_blueprint("case_pages", __name__, url_prefix="/cases")

LONDON = ZoneInfo("Europe/London")
RECIPIENTS = {
    "learner": "The learner",
    "parent_carer": "Parent or carer",
    "parent_carer_extended": "Parent or carer",
    "employer": "Employer",
    "main_school": "Main school",
}
CHANNELS = {"post": "Post", "email": "Email", "none": "Not sent: no address or email"}


def when(value: str | datetime | None, *, local: bool = False) -> str:
    """A moment as people read it, in UK time: 7 September 2026, 14:05. ``local``: already a
    UK wall-clock time (a session's start)."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not local:
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(LONDON)
    return f"{moment.day} {moment:%B %Y}, {moment:%H:%M}"


@bp.context_processor
def page_words() -> dict[str, Any]:
    return {
        "when": when,
        "field_words": field_words,
        "recipient_words": RECIPIENTS,
        "channel_words": CHANNELS,
        "today_iso": date.today().isoformat(),
    }


@bp.get("/<int:case_id>")
def page(case_id: int) -> ResponseReturnValue:
    return _page(case_id)


@bp.post("/<int:case_id>/events/<event>")
def take_step(case_id: int, event: str) -> ResponseReturnValue:
    user = staff_user()
    checked = _checked_form(case_id, event)
    if not isinstance(checked[0], EventForm):  # the page again, with why
        return checked
    form, rules = checked
    try:
        result = act(
            actor=user,
            event=event,
            case_id=case_id,
            expected_version=form.expected_version(),
            note=form.note.data,
            data=form.event_data(),
            today=date.today(),
        )
    except (InvalidData, Stale, GuardFailed, NotAllowed) as exc:
        return _refused(case_id, form, exc)
    letters_after_commit(result.letters)  # queued for a worker, or rendered here
    letters = len(result.letters)
    sent = f" {letters} {'letter' if letters == 1 else 'letters'} recorded." if letters else ""
    stage = stage_name(result.case, result.case.state)
    flash(f"{rules['label']}: done. The case is now at '{stage}'.{sent}", "success")
    return redirect(url_for(".page", case_id=case_id), 303)


@bp.post("/<int:case_id>/events/<event>/preview")
def preview_letters(case_id: int, event: str) -> ResponseReturnValue:
    """The letters the step would send, as one PDF shown in the browser; nothing is kept."""
    checked = _checked_form(case_id, event)
    if not isinstance(checked[0], EventForm):  # the page again, with why
        return checked
    form, rules = checked
    try:
        snapshots = preview(
            actor=staff_user(),
            event=event,
            case_id=case_id,
            note=form.note.data,
            data=form.event_data(),
            expected_version=form.expected_version(),
            today=date.today(),
        )
    except (InvalidData, Stale, GuardFailed, NotAllowed) as exc:
        return _refused(case_id, form, exc)
    finally:
        db.session.rollback()  # nothing of the preview's outlives it
    if not snapshots:
        return _page(case_id, form, refused=f"{rules['label']} sends no letters.", status=409)
    from casework.documents.render import LetterRefused

    try:
        pdf = _previews_pdf(snapshots)
    except LetterRefused as exc:  # the letter would be refused as it stands: say why
        return _page(case_id, form, refused=str(exc), status=409)
    filename = f"preview-case-{case_id}-{event}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def _checked_form(case_id: int, event: str) -> tuple[EventForm, dict[str, Any]] | tuple[str, int]:
    """The step's form as sent, once the person may take the step (else 404/403) and the form
    reads (else the page again with its problems, 422)."""
    user = staff_user()
    case = scope.case_for(user, case_id)  # outside their scope: 404
    rules = step_rules(user, case, event)  # no such step: 404
    if rules["refusal"]:
        raise Forbidden(rules["refusal"])
    form = form_for(event, rules["action_plan"], formdata=request.form)
    if not form.check():
        return _page(case_id, form, status=422)
    return form, rules


def _refused(case_id: int, form: EventForm, exc: Exception) -> tuple[str, int]:
    """A refusal from the service, on the page: nothing was applied (the service rolled back)."""
    if isinstance(exc, InvalidData):
        form.show_errors(exc.errors)
        return _page(case_id, form, status=422)
    if isinstance(exc, Stale):
        return _page(case_id, form, stale=form.seen_events(), status=409)
    return _page(case_id, form, refused=str(getattr(exc, "message", exc)), status=409)


def _page(
    case_id: int,
    submitted: EventForm | None = None,
    *,
    stale: int | None = None,
    refused: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    user = staff_user()
    detail = case_page(user, case_id)
    case = db.session.get(Case, case_id)  # loaded (within scope) by case_page
    seen = detail["timeline"][-1]["seq"] if detail["timeline"] else 0
    changes = None
    if stale is not None:
        changes = [entry for entry in detail["timeline"] if entry["seq"] > stale]
        if submitted is not None:  # what they typed stays, on the case as it now is
            submitted.version.data = str(detail["version"])
            submitted.seen.data = str(seen)
    forms: dict[str, EventForm] = {}
    for step in [*detail["steps"], *detail["changes"]]:
        if not step["may"]:
            continue
        if submitted is not None and submitted.event == step["event"]:
            forms[step["event"]] = submitted
        else:
            forms[step["event"]] = form_for(
                step["event"], step["action_plan"], version=str(detail["version"]), seen=str(seen)
            )
    return render_template(
        "staff/case/page.html",
        case=detail,
        forms=forms,
        submitted=submitted,
        diagram=workflow_diagram(case.policy, case.state),
        changes=changes,
        refused=refused,
    ), status


def _previews_pdf(snapshots: list[dict[str, Any]]) -> bytes:
    """The would-be letters in one PDF, each marked as a preview (``preview_pdf``'s title)."""
    from casework.documents.render import preview_pdf

    if len(snapshots) == 1:
        return preview_pdf(snapshots[0])
    from weasyprint import HTML

    from casework.documents.pdf import BASE_URL, AssetOnlyFetcher
    from casework.documents.render import letter_data, letter_html

    documents = []
    for snapshot in snapshots:
        data = letter_data(snapshot, None)
        html = letter_html({**data, "title": f"Preview, not sent: {data['title']}"})
        documents.append(
            HTML(string=html, base_url=BASE_URL, url_fetcher=AssetOnlyFetcher()).render()
        )
    pages = [page for document in documents for page in document.pages]
    return documents[0].copy(pages).write_pdf(pdf_variant="pdf/ua-1")
