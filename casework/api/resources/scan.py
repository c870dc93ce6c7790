"""The nightly scan, run on demand by an administrator."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from flask.views import MethodView
from marshmallow import Schema, fields

from casework.api import api_blueprint
from casework.api.auth import require_role
from casework.api.idempotency import HEADER_DOC, idempotent
from casework.cases.scan import run_scan
from casework.fields import day
from casework.models import Role

blp = api_blueprint("scan", "The scan that opens cases and records occurrences.")


class ScanRequestSchema(Schema):
    as_at = day(metadata={"description": "Scan as at the end of this day (today)."})
    render_letters = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Render the letters it calls for before answering. For a whole "
            "night's letters, `casework render-letters` renders in parallel instead."
        },
    )


class ScanReportSchema(Schema):
    as_at = fields.String()
    evaluated = fields.Integer()
    too_few_sessions = fields.Integer()
    below_threshold = fields.Integer()
    cases_opened = fields.List(fields.Integer())
    occurrences_recorded = fields.List(fields.Integer())
    decisions_due = fields.Integer()
    items_marked_overdue = fields.Integer()
    approaching_flagged = fields.Integer()
    approaching_cleared = fields.Integer()
    rebook_items = fields.Integer()
    medical_certificate_items = fields.Integer()
    letters_rendered = fields.Integer()
    letters_failed = fields.Integer()


@blp.route("/scan")
class Scan(MethodView):
    @blp.doc(parameters=[HEADER_DOC])
    @idempotent
    @blp.arguments(ScanRequestSchema)
    @blp.response(200, ScanReportSchema)
    def post(self, body):
        """Run the scan (administrators): every active enrolment judged against its policy."""
        require_role(Role.ADMINISTRATOR)
        report = asdict(run_scan(body.get("as_at") or date.today()))
        report["letters_rendered"] = report["letters_failed"] = 0
        if body["render_letters"]:
            from casework.documents.jobs import pending_jobs, render_jobs

            report["letters_rendered"], report["letters_failed"] = render_jobs(pending_jobs())
        return report
