"""Programmes and their heads of programme."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView
from marshmallow import Schema, fields, missing

from casework.api import api_blueprint
from casework.api.auth import caller
from casework.api.idempotency import HEADER_DOC, idempotent
from casework.api.pagination import PAGINATION, SelectPage
from casework.fields import ids, text
from casework.models import ProgrammeRole
from casework.records import programmes

blp = api_blueprint("programmes", "Programmes and their heads of programme.")

_HEADS = "Users who are heads of programme (the role), to lead it."
_OFFICERS = "Users who are administration officers (the role), to keep its registers."


class ProgrammeQuerySchema(Schema):
    policy = text(80, metadata={"description": "Only programmes under this policy (its key)."})


class NewProgrammeSchema(Schema):
    code = text(40, required=True)
    title = text(200, required=True)
    policy = text(80, required=True, metadata={"description": "The policy's key."})
    head_of_programme_ids = ids(load_default=list, metadata={"description": _HEADS})
    administration_officer_ids = ids(load_default=list, metadata={"description": _OFFICERS})


class ProgrammeChangeSchema(Schema):
    title = text(200)
    head_of_programme_ids = ids(metadata={"description": _HEADS + " Replaces the list."})
    administration_officer_ids = ids(metadata={"description": _OFFICERS + " Replaces the list."})


class StaffSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()


class StaffListField(fields.List):
    """A programme's staff in one programme role, by id."""

    def __init__(self, programme_role: ProgrammeRole, **kw: Any) -> None:
        super().__init__(fields.Nested(StaffSchema), **kw)
        self.programme_role = programme_role

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = missing) -> Any:
        return programmes.staff_of(obj, self.programme_role)


class ProgrammeSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    title = fields.String()
    policy = fields.String(attribute="policy.key")
    provider = fields.String(attribute="policy.provider")
    heads_of_programme = StaffListField(ProgrammeRole.HEAD)
    administration_officers = StaffListField(ProgrammeRole.ADMINISTRATION)


@blp.route("/programmes")
class Programmes(MethodView):
    @blp.arguments(ProgrammeQuerySchema, location="query")
    @blp.response(200, ProgrammeSchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, args):
        """List the programmes you may see, by code."""
        return programmes.list_programmes(caller(), **args)

    @blp.doc(parameters=[HEADER_DOC])
    @idempotent
    @blp.arguments(NewProgrammeSchema)
    @blp.response(201, ProgrammeSchema)
    def post(self, body):
        """Create a programme under a policy, with its staff (administrators)."""
        programme = programmes.create_programme(caller(), **body)
        location = url_for("programmes.ProgrammeById", programme_id=programme.id)
        return programme, 201, {"Location": location}


@blp.route("/programmes/<int:programme_id>")
class ProgrammeById(MethodView):
    @blp.response(200, ProgrammeSchema)
    def get(self, programme_id: int):
        """A programme with its policy and staff."""
        return programmes.programme_for(caller(), programme_id)

    @blp.arguments(ProgrammeChangeSchema)
    @blp.response(200, ProgrammeSchema)
    def patch(self, body, programme_id: int):
        """Change a programme's title or staff (administrators); its code and policy stay."""
        return programmes.update_programme(caller(), programme_id, body)
