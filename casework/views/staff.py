"""Staff lists: cases by stage, programme, mentor and overdue (/cases), and learners by
attendance band (/attendance). Each is filtered by a GET form that works without JavaScript,
paginated, and downloadable as CSV with the same filters (``?format=csv``: every matching row).
Both show only what the services' scope rules let the signed-in user see; a filter naming
anything outside it is refused in words, never answered with someone else's rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import render_template, request, url_for

from casework.cases import lists
from casework.views.export import csv_response
from casework.views.pages import staff_blueprint, staff_user

bp = staff_blueprint("staff", __name__)

FORMATS = ("", "html", "csv")


def _check_format(filters: lists.Filters) -> bool:
    """True for a CSV download; an unknown format is one more problem with the filters."""
    wanted = request.args.get("format", "").strip().lower()
    if wanted not in FORMATS:
        filters.errors["format"] = "The download format must be csv."
    return wanted == "csv"


def pagination(endpoint: str, filters: lists.Filters, page: lists.Page) -> dict[str, Any] | None:
    """The GOV.UK pagination component's parameters: the first, last and nearby pages."""
    if page.pages <= 1:
        return None

    def href(number: int) -> str:
        return url_for(endpoint, **filters.query_args(), page=number)

    items: list[dict[str, Any]] = []
    for number in range(1, page.pages + 1):
        if number in (1, page.pages) or abs(number - page.page) <= 1:
            items.append({"number": number, "href": href(number), "current": number == page.page})
        elif items and not items[-1].get("ellipsis"):
            items.append({"ellipsis": True})
    params: dict[str, Any] = {"items": items, "landmarkLabel": "Pages of the list"}
    if page.page > 1:
        params["previous"] = {"href": href(page.page - 1)}
    if page.page < page.pages:
        params["next"] = {"href": href(page.page + 1)}
    return params


def _list_page(
    endpoint: str,
    csv_name: str,
    columns: tuple[str, ...],
    cells: Callable[[Any], tuple[Any, ...]],
    options: Callable[..., Any],
    parse: Callable[..., lists.Filters],
    everything: Callable[..., Any],
    one_page: Callable[..., lists.Page],
):
    """A list page: its filters read and checked, then one page of rows, or every row as CSV."""
    user, today = staff_user(), date.today()
    choices = options(user)
    filters = parse(request.args, choices)
    download = _check_format(filters)
    page = None
    if not filters.errors:
        if download:
            rows = everything(user, filters, today)
            return csv_response(csv_name, columns, (cells(row) for row in rows), today)
        page = one_page(user, filters, today)
    return render_template(
        f"staff/{endpoint.removeprefix('staff.')}.html",
        options=choices,
        filters=filters,
        page=page,
        pagination=page and pagination(endpoint, filters, page),
        csv_href=url_for(endpoint, **filters.query_args(), format="csv"),
        today=today,
    ), (400 if filters.errors else 200)


@bp.get("/cases")
def caseload():
    return _list_page(
        "staff.caseload",
        "cases",
        CASE_COLUMNS,
        _case_cells,
        lists.case_options,
        lists.parse_case_filters,
        lists.all_cases,
        lists.case_page,
    )


CASE_COLUMNS = (
    "Case",
    "Learner ID",
    "Learner",
    "Programme",
    "Stage",
    "Tutor or mentor",
    "Opened",
    "Decision due",
    "Overdue",
    "Closed",
)


def _case_cells(row: lists.CaseRow) -> tuple[Any, ...]:
    return (
        row.id,
        row.learner_ref,
        row.learner_name,
        row.programme,
        row.stage_name,
        row.mentor,
        row.opened_on,
        row.decision_due_on,
        row.overdue,
        row.ended_on,
    )


@bp.get("/attendance")
def attendance():
    return _list_page(
        "staff.attendance",
        "attendance",
        ATTENDANCE_COLUMNS,
        _attendance_cells,
        lists.attendance_options,
        lists.parse_attendance_filters,
        lists.all_attendance,
        lists.attendance_page,
    )


ATTENDANCE_COLUMNS = (
    "Learner ID",
    "Learner",
    "Programme",
    "Tutor or mentor",
    "Attendance %",
    "Possible sessions",
    "Sessions missed",
    "Band",
    "Threshold",
    "Open case",
)


def _attendance_cells(row: lists.AttendanceRow) -> tuple[Any, ...]:
    return (
        row.learner_ref,
        row.learner_name,
        row.programme,
        row.mentor,
        None if row.percent is None else f"{row.percent:.1f}",
        row.possible,
        row.missed,
        row.band_label,
        row.threshold,
        row.case_id,
    )
