"""Learners and their contacts."""

from __future__ import annotations

from flask import url_for
from flask.views import MethodView
from marshmallow import Schema, fields

from casework.api import api_blueprint
from casework.api.auth import caller
from casework.api.idempotency import HEADER_DOC, idempotent
from casework.api.pagination import PAGINATION, SelectPage
from casework.fields import day, email, not_future, optional_text, record_id, text
from casework.models import ContactKind
from casework.records import learners

blp = api_blueprint("learners", "Learners and their contacts.")


class LearnerQuerySchema(Schema):
    programme_id = record_id(metadata={"description": "Enrolled on this programme."})
    mentor_id = record_id(metadata={"description": "With this tutor/mentor (on programme_id)."})
    learner_ref = text(40, metadata={"description": "The MIS learner ID, exactly."})
    q = text(100, metadata={"description": "Part of a given, family or preferred name."})


class LearnerChangeSchema(Schema):
    learner_ref = text(40, metadata={"description": "The MIS learner ID (unique)."})
    given_name = text(100)
    family_name = text(100)
    preferred_name = optional_text(100)
    date_of_birth = day(not_future)
    email = email(allow_none=True)
    phone = optional_text(40)
    address = optional_text(1000, metadata={"description": "Postal address, a line per line."})
    postcode = optional_text(10)


class NewLearnerSchema(LearnerChangeSchema):
    learner_ref = text(40, required=True, metadata={"description": "The MIS learner ID (unique)."})
    given_name = text(100, required=True)
    family_name = text(100, required=True)
    date_of_birth = day(not_future, required=True)


class LearnerSchema(Schema):
    id = fields.Integer()
    learner_ref = fields.String()
    given_name = fields.String()
    family_name = fields.String()
    preferred_name = fields.String(allow_none=True)
    full_name = fields.String()
    date_of_birth = fields.Date()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)


class ContactChangeSchema(Schema):
    kind = fields.Enum(ContactKind, by_value=True)
    name = text(200)
    relationship = optional_text(
        100, attribute="relationship_to_learner", metadata={"description": "e.g. Mother."}
    )
    email = email(allow_none=True)
    phone = optional_text(40)
    address = optional_text(1000, metadata={"description": "Postal address, a line per line."})
    postcode = optional_text(10)
    receives_letters = fields.Boolean()
    notify_by_sms = fields.Boolean(metadata={"description": "Needs a phone number."})
    notify_by_email = fields.Boolean(metadata={"description": "Needs an email address."})


class NewContactSchema(ContactChangeSchema):
    kind = fields.Enum(ContactKind, by_value=True, required=True)
    name = text(200, required=True)
    receives_letters = fields.Boolean(load_default=True)
    notify_by_sms = fields.Boolean(load_default=False, metadata={"description": "Needs a phone."})
    notify_by_email = fields.Boolean(load_default=False, metadata={"description": "Needs email."})


class ContactSchema(Schema):
    id = fields.Integer()
    learner_id = fields.Integer()
    kind = fields.Enum(ContactKind, by_value=True)
    name = fields.String()
    relationship = fields.String(attribute="relationship_to_learner", allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)
    receives_letters = fields.Boolean()
    notify_by_sms = fields.Boolean()
    notify_by_email = fields.Boolean()


@blp.route("/learners")
class Learners(MethodView):
    @blp.arguments(LearnerQuerySchema, location="query")
    @blp.response(200, LearnerSchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, args):
        """List the learners you may see, by family name."""
        return learners.list_learners(caller(), **args)

    @blp.doc(parameters=[HEADER_DOC])
    @idempotent
    @blp.arguments(NewLearnerSchema)
    @blp.response(201, LearnerSchema)
    def post(self, body):
        """Add a learner (administrators); enrol them next. An administration officer adds a
        learner with their first enrolment instead (`POST /enrolments` with `learner`): a
        learner on none of their programmes is not theirs to see."""
        learner = learners.create_learner(caller(), body)
        return learner, 201, {"Location": url_for("learners.LearnerById", learner_id=learner.id)}


@blp.route("/learners/<int:learner_id>")
class LearnerById(MethodView):
    @blp.response(200, LearnerSchema)
    def get(self, learner_id: int):
        """A learner you may see."""
        return learners.learner_for(caller(), learner_id)

    @blp.arguments(LearnerChangeSchema)
    @blp.response(200, LearnerSchema)
    def patch(self, body, learner_id: int):
        """Change a learner's details (administrators, their programme's administration
        officers)."""
        return learners.update_learner(caller(), learner_id, body)


@blp.route("/learners/<int:learner_id>/contacts")
class LearnerContacts(MethodView):
    @blp.response(200, ContactSchema(many=True))
    @blp.paginate(SelectPage, **PAGINATION)
    def get(self, learner_id: int):
        """A learner's contacts: parents and carers, employers, main schools."""
        return learners.list_contacts(caller(), learner_id)

    @blp.doc(parameters=[HEADER_DOC])
    @idempotent
    @blp.arguments(NewContactSchema)
    @blp.response(201, ContactSchema)
    def post(self, body, learner_id: int):
        """Add a contact to a learner (as for changing the learner)."""
        contact = learners.create_contact(caller(), learner_id, body)
        return contact, 201, {"Location": url_for("learners.ContactById", contact_id=contact.id)}


@blp.route("/contacts/<int:contact_id>")
class ContactById(MethodView):
    @blp.response(200, ContactSchema)
    def get(self, contact_id: int):
        """A contact of a learner you may see."""
        return learners.contact_for(caller(), contact_id)

    @blp.arguments(ContactChangeSchema)
    @blp.response(200, ContactSchema)
    def patch(self, body, contact_id: int):
        """Change a contact (as for changing the learner)."""
        return learners.update_contact(caller(), contact_id, body)
