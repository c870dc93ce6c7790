"""The outbox pages: the messages of the staff member's programmes (filtered, paginated), one
message with each attempt to send it and a button to send a failed one again, and the contact
details missing for messages and letters to go (casework.messages.outbox does the work)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from redis import RedisError

from casework.cases import lists
from casework.errors import GuardFailed
from casework.jobs.queues import connection
from casework.jobs.sweep import backlog
from casework.messages import outbox
from casework.models import MessageChannel, MessageKind, MessageStatus, Role
from casework.routing import whole_number
from casework.views.cases import RECIPIENTS, when
from casework.views.pages import staff_blueprint, staff_user
from casework.views.staff import pagination

bp = staff_blueprint("message_pages", __name__, url_prefix="/messages")

PER_PAGE = lists.PER_PAGE  # lists.check_page counts pages of this size
# Who has messages to see: tutors and mentors see their own learners'; a safeguarding lead
# alone has none (and no link to these pages).
ROLES = (Role.ADMINISTRATOR, Role.HEAD_OF_PROGRAMME, Role.ADMINISTRATION_OFFICER, Role.TUTOR_MENTOR)
STATUS_TAGS = {
    MessageStatus.WAITING: ("Waiting for its letter", "grey"),
    MessageStatus.QUEUED: ("Queued", "blue"),
    MessageStatus.SENDING: ("Sending", "light-blue"),
    MessageStatus.SENT: ("Sent", "green"),
    MessageStatus.FAILED: ("Failed", "red"),
    MessageStatus.NO_ADDRESS: ("No address", "orange"),
    MessageStatus.CANCELLED: ("Cancelled", "grey"),
}
KINDS = {
    MessageKind.ABSENCE: "Absence alert",
    MessageKind.LETTER: "Letter",
    MessageKind.REPORT: "Report",
}
CHANNELS = {MessageChannel.EMAIL: "Email", MessageChannel.SMS: "Text message"}
OUTCOMES = {
    "sent": "Sent",
    "failed": "Failed",
    outbox.UNKNOWN_OUTCOME: "Not known: it may have been delivered",
    outbox.RESEND_OUTCOME: "Sent again by staff",
}
MAX_REF = 40  # Learner.learner_ref's length


@bp.before_request
def require_role() -> None:
    if not any(staff_user().has_role(role) for role in ROLES):
        abort(
            403,
            "These pages are for administrators, heads of programme, administration officers "
            "and tutors or mentors.",
        )


@bp.context_processor
def page_words() -> dict:
    return {
        "status_tags": STATUS_TAGS,
        "kinds": KINDS,
        "channels": CHANNELS,
        "outcomes": OUTCOMES,
        "recipients": RECIPIENTS
        | {"staff": "Staff", "commissioning_school": "Commissioning school"},
        "when": when,
    }


OPTIONS = {
    "status": [lists.Option(s.value, text) for s, (text, _colour) in STATUS_TAGS.items()],
    "kind": [lists.Option(k.value, text) for k, text in KINDS.items()],
    "channel": [lists.Option(c.value, text) for c, text in CHANNELS.items()],
}


def parse_filters(args: Mapping[str, str]) -> lists.Filters:
    """The list's filters from the query string; each bad one is an error in words."""
    filters = lists.Filters()
    for name, words in (
        ("status", "Choose a status from the list."),
        ("kind", "Choose a kind of message from the list."),
        ("channel", "Choose email or text message."),
    ):
        raw = (args.get(name) or "").strip()
        if raw and raw not in {o.value for o in OPTIONS[name]}:
            filters.errors[name] = words
            raw = ""
        filters.values[name] = raw or None
    learner = (args.get("learner") or "").strip()
    if len(learner) > MAX_REF or "\x00" in learner:
        filters.errors["learner"] = f"A learner ID has at most {MAX_REF} characters."
        learner = ""
    filters.values["learner"] = learner or None
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        filters.values[name] = None
        if raw:
            try:
                filters.values[name] = date.fromisoformat(raw)
            except ValueError:
                filters.errors[name] = "Enter a date as year-month-day, for example 2026-09-07."
    start, end = filters.values["from"], filters.values["to"]
    if start and end and start > end:
        filters.errors["to"] = "The end date must be the same as or after the start date."
    page = whole_number(args.get("page") or "1", lowest=1)
    if page is None:
        filters.errors["page"] = "The page number must be a whole number, 1 or more."
    else:
        filters.page = page
    return filters


def _query(filters: lists.Filters) -> outbox.OutboxQuery:
    values = filters.values
    return outbox.OutboxQuery(
        status=MessageStatus(values["status"]) if values["status"] else None,
        kind=MessageKind(values["kind"]) if values["kind"] else None,
        channel=MessageChannel(values["channel"]) if values["channel"] else None,
        learner_ref=values["learner"],
        created_from=values["from"],
        created_to=values["to"],
    )


@bp.get("")
def index() -> ResponseReturnValue:
    filters = parse_filters(request.args)
    page = None
    if not filters.errors:
        rows, total = outbox.message_page(staff_user(), _query(filters), filters.page, PER_PAGE)
        lists.check_page(filters, total)  # a page past the last: an error in words
        page = None if filters.errors else lists.Page(rows, total, filters.page, PER_PAGE)
    return render_template(
        "staff/messages/index.html",
        jobs=_job_backlog(),
        options=OPTIONS,
        filters=filters,
        page=page,
        pagination=page and pagination("message_pages.index", filters, page),
    ), (400 if filters.errors else 200)


def _job_backlog() -> dict | None:
    """For administrators and heads, with a job queue: its failed and retrying work, or that it
    does not answer (letters and messages wait in the database meanwhile)."""
    user = staff_user()
    if not (user.has_role(Role.ADMINISTRATOR) or user.has_role(Role.HEAD_OF_PROGRAMME)):
        return None
    redis = connection()
    if redis is None:
        return None
    try:
        found = backlog(redis)
    except RedisError:
        return {"answers": False}
    return {"answers": True, "failed": found.failed, "retrying": found.retrying}


@bp.get("/<int:message_id>")
def show(message_id: int) -> ResponseReturnValue:
    view = outbox.message_view(staff_user(), message_id)  # outside their scope: 404
    return render_template("staff/messages/show.html", view=view)


@bp.post("/<int:message_id>/resend")
def resend(message_id: int) -> ResponseReturnValue:
    try:
        message = outbox.resend(message_id, staff_user())  # not theirs: 404; not their role: 403
    except GuardFailed as exc:
        flash(exc.message, "error")
    else:
        flash(f"The message to {message.recipient_name} is queued to be sent again.", "success")
    return redirect(url_for(".show", message_id=message_id), 303)


@bp.get("/contact-gaps")
def contact_gaps() -> ResponseReturnValue:
    return render_template("staff/messages/gaps.html", learners=outbox.contact_gaps(staff_user()))
