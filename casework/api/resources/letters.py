"""Letters: list the stored letters of the cases you may see, and download their PDFs."""

from __future__ import annotations

from flask import Response
from flask.views import MethodView
from marshmallow import Schema, fields

from casework import scope
from casework.api import api_blueprint
from casework.api.auth import caller
from casework.api.pagination import PAGINATION, SelectPage
from casework.cases.queries import staff_letter
from casework.fields import record_id, text
from casework.models import Letter

blp = api_blueprint("letters", "Letters as stored: the same bytes on every download.")


class LetterQuerySchema(Schema):
    case_id = record_id()
    template = text(40, min_length=0)  # no NUL: PostgreSQL would refuse the query itself
    recipient_kind = text(30, min_length=0)


class LetterSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    event_seq = fields.Integer(attribute="event.seq")
    template = fields.String()
    template_version = fields.String()
    recipient_kind = fields.String()
    recipient_name = fields.String()
    reference = fields.String()
    sha256 = fields.String()
    size = fields.Integer()
    rendered_at = fields.DateTime()


def _visible():
    return scope.visible_letters(caller()).order_by(Letter.id)


@blp.route("/letters")
class Letters(MethodView):
    @blp.arguments(LetterQuerySchema, location="query")
    @blp.response(200, LetterSchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, args):
        """List stored letters, oldest first."""
        query = _visible()
        for name in ("case_id", "template", "recipient_kind"):
            if name in args:
                query = query.where(getattr(Letter, name) == args[name])
        return query


@blp.route("/letters/<int:letter_id>")
class LetterById(MethodView):
    @blp.response(200, LetterSchema)
    def get(self, letter_id: int):
        """One letter's record: who it was for, its reference and its SHA-256."""
        return staff_letter(caller(), letter_id)


@blp.route("/letters/<int:letter_id>/pdf")
class LetterPdf(MethodView):
    @blp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type="application/pdf",
        description="The PDF exactly as stored when the letter was issued.",
    )
    def get(self, letter_id: int):
        """Download the letter's PDF: the same bytes every time (its SHA-256 is the ETag)."""
        letter = staff_letter(caller(), letter_id, with_pdf=True)
        response = Response(letter.pdf, mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'attachment; filename="{letter.reference}.pdf"'
        response.set_etag(letter.sha256)
        return response
