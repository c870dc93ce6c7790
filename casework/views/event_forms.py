"""Forms for a case's steps, built from each event's data schema (casework.machines.events), so
that a step's form asks for exactly what the step takes, and its checks stay the machine's.

Each schema field becomes a GOV.UK field: a ``Date`` the three-box date input, a ``Time`` a short
text input (HH:MM), a ``String`` a textarea (a short one a text input; one of fixed values
radios), a ``List`` of strings or dates a textarea with one item a line, and a ``Nested`` schema (a
panel, an action plan) a fieldset of its own fields. Every step also takes a note (why) and the
version of the case the person read. The form turns what was typed into the event's data; the
schema, run by the machine when the step is sent, judges it, and its messages come back onto the
fields here (``show_errors``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from flask import render_template
from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovDateInput,
    GovRadioInput,
    GovTextArea,
    GovTextInput,
)
from markupsafe import Markup
from marshmallow import Schema, validate
from marshmallow import fields as mf
from wtforms import DateField, Field, HiddenField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from casework.machines.events import CHANGES, NOTE_LIMIT, Change, event_schema
from casework.machines.workflow import Event
from casework.routing import whole_number

# Staff words for the schemas' field names (anything else: its name, in words).
LABELS = {
    "action_plan": "Action plan",
    "targets": "Targets",
    "support": "Support agreed",
    "review_dates": "Review dates",
    "panel": "The panel",
    "date": "Date",
    "time": "Time",
    "place": "Place",
    "members": "Members of the panel",
    "outcome": "What the panel decided",
    "reason": "Reason",
    "exit_strategy": "Exit strategy and advice offered (optional)",
    "circumstances": "Health or personal circumstances",
    "reviewed_on": "Date of the review",
    "notes": "Notes (optional)",
    "letter_id": "Letter (its number)",
    "ReviewData.outcome": "How far the action plan was met",
}
# How to ask for each field when it is missing.
MISSING = {
    "targets": "Enter at least one target",
    "support": "Enter at least one kind of support agreed",
    "review_dates": "Enter at least one review date",
    "date": "Enter the date of the panel",
    "time": "Enter the time of the panel",
    "place": "Enter where the panel meets",
    "members": "Enter at least one member of the panel",
    "outcome": "Enter what the panel decided",
    "reason": "Enter the reason",
    "circumstances": "Enter the health or personal circumstances",
    "reviewed_on": "Enter the date of the review",
    # A name two schemas use differently: the schema's name first.
    "ReviewData.outcome": "Select how far the action plan was met",
    "CloseData.reason": "Select why the case is closed",
}
CHOICES = {
    "attendance_restored": "Attendance is back on track",
    "no_further_action": "No further action",
}
LINES_HINT = "One a line."
DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%d.%m.%Y")
TIME = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")
SHORT_TEXT = 200  # up to this many characters: a text input, not a textarea


def field_words(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


class BlankableDateField(DateField):
    """The three-box date: all boxes empty is no date (the schema says whether one is needed);
    anything else must be a real day."""

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not "".join(valuelist).strip():
            self.data = None
            return
        try:
            day, month, year = (int(part) for part in valuelist)
            self.data = date(year, month, day)
        except (TypeError, ValueError):
            self.data = None
            raise ValueError(
                f"{field_words(self.short_name.rsplit('__', 1)[-1])} must be a real date, "
                "like 27 3 2027"
            ) from None


@dataclass(frozen=True)
class Item:
    """One schema field and the form field that asks for it."""

    path: tuple[str, ...]  # where its value goes in the event's data
    name: str  # the form field's name
    kind: str  # date, time, text, textarea, choice, lines, date_lines
    required: bool
    missing: str  # what to say when it is needed and missing


@dataclass
class Group:
    """The form's fields, in order: at the top level (``legend`` None) or a nested schema's."""

    legend: str | None
    names: list[str] = field(default_factory=list)


class EventForm(FlaskForm):
    """The fields every step takes; ``form_for`` adds the event's own."""

    class Meta:
        csrf = False  # the app's CSRFProtect checks every POST's token (templates add it)

    version = HiddenField()
    seen = HiddenField()  # the last event on the timeline the person read
    note = TextAreaField(
        "Note",
        description="Why you are taking this step: it is kept on the case's record.",
        widget=GovTextArea(),
    )

    event: str
    items: tuple[Item, ...]
    groups: tuple[Group, ...]
    blank = False  # made for the page, not from what was sent: nothing typed, no problems

    def fields_html(self) -> Markup:
        """The fields, drawn. A blank form's are the same on every page (the version and the
        token are drawn apart), so each step's are drawn once: two dozen GOV.UK fields a page
        would otherwise cost most of its time."""
        if not self.blank:
            return Markup(render_template("staff/case/_fields.html", form=self))
        drawn = _BLANK.get(type(self))
        if drawn is None:
            drawn = _BLANK[type(self)] = Markup(
                render_template("staff/case/_fields.html", form=self)
            )
        return drawn

    def data_fields(self) -> Iterator[tuple[Group, list[Field]]]:
        for group in self.groups:
            yield group, [self[name] for name in group.names]

    def problems(self) -> list[tuple[str, str]]:
        """(message, the id of the field it is about), in the form's order."""
        out = [(message, self.note.id) for message in self.form_errors]
        order = [*(n for g in self.groups for n in g.names), "note"]
        return out + [(self[n].errors[0], self._anchor(n)) for n in order if self[n].errors]

    def _anchor(self, name: str) -> str:
        item = next((i for i in self.items if i.name == name), None)
        # The date input's first box (the error summary links to what can take focus).
        return f"{self[name].name}-day" if item and item.kind == "date" else self[name].id

    def expected_version(self) -> int | None:
        return whole_number(self.version.data)

    def seen_events(self) -> int:
        return whole_number(self.seen.data) or 0

    def check(self) -> bool:
        """The form's own checks: what was typed can be read, and what is needed is there.
        The schema judges the rest when the step is sent."""
        self.validate()  # converts the dates (the fields carry no validators of their own)
        if self.expected_version() is None:
            self.form_errors.append("This form is out of date: reload the case and try again.")
        if not (self.note.data or "").strip():
            self.note.errors = [*self.note.errors, "Write a note saying why you take this step"]
        elif len(self.note.data) > NOTE_LIMIT:
            self.note.errors = [*self.note.errors, f"Write a note of up to {NOTE_LIMIT} characters"]
        for item in self.items:
            if self[item.name].errors:
                continue
            value = self._value(item)
            if item.required and value in (None, "", []):
                self[item.name].errors = [item.missing]
        return not self.errors and not self.form_errors

    @property
    def errors(self) -> dict[str, list[str]]:  # type: ignore[override]
        return {name: f.errors for name, f in self._fields.items() if f.errors}

    def event_data(self) -> dict[str, Any]:
        """What was typed, as the event's data (blank optional parts left out)."""
        data: dict[str, Any] = {}
        for item in self.items:
            value = self._value(item)
            if value in (None, "", []):
                continue
            target = data
            for part in item.path[:-1]:
                target = target.setdefault(part, {})
            target[item.path[-1]] = value
        return data

    def _value(self, item: Item) -> Any:
        raw = self[item.name].data
        if item.kind == "date":
            return raw.isoformat() if raw else None
        text = (raw or "").strip()
        if item.kind == "time":
            match = TIME.match(text)
            return f"{int(match.group(1)):02d}:{match.group(2)}" if match else text
        if item.kind in ("lines", "date_lines"):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            return [_iso(line) for line in lines] if item.kind == "date_lines" else lines
        return text

    def show_errors(self, messages: dict[str, Any]) -> None:
        """The schema's messages (``InvalidData.errors``), each on its field in staff words."""
        by_path = {item.path: item for item in self.items}
        for path, message in _flatten(messages):
            if path == ("note",):
                self.note.errors = [
                    *self.note.errors,
                    f"Write a note saying why, of up to {NOTE_LIMIT} characters",
                ]
                continue
            item = by_path.get(path) or next(
                (i for i in self.items if i.path[: len(path)] == path), None
            )
            if item is None:
                self.form_errors.append(message)
                continue
            self[item.name].errors = [*self[item.name].errors, _stafffield_words(item, message)]


def _missing(qualified: str, name: str) -> str:
    return MISSING.get(qualified) or MISSING.get(name, f"Enter {field_words(name).lower()}")


def _iso(line: str) -> str:
    """A date as people type it (27/3/2027, 27 March 2027, 2027-03-27) as ISO; else as typed,
    for the schema to refuse."""
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(line, fmt).date().isoformat()
        except ValueError:
            continue
    return line


def _flatten(messages: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """marshmallow's nested messages as (field path, first message); a list's item numbers
    are kept in the message ("line 2: ..."), not the path."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                for sub_path, message in _flatten(value, path):
                    yield sub_path, f"Line {key + 1}: {message}"
            elif key == "_schema":
                yield from _flatten(value, path)
            else:
                yield from _flatten(value, (*path, str(key)))
    elif isinstance(messages, list | tuple) and messages:
        if all(isinstance(m, str) for m in messages):
            yield path, messages[0]
        else:
            for value in messages:
                yield from _flatten(value, path)
    elif isinstance(messages, str):
        yield path, messages


def _stafffield_words(item: Item, message: str) -> str:
    name = item.path[-1]
    if "Missing data" in message or "Shorter than minimum length 1." in message:
        return item.missing
    if message.endswith("Not a valid date."):
        return message.replace("Not a valid date.", "enter a date like 27/3/2027")
    if "Not a valid time" in message:
        return "Enter the time in hours and minutes, like 14:30"
    if message.startswith("Unknown field"):
        return f"{field_words(name)} is not part of this step"
    return message


def _items(schema: Schema, prefix: tuple[str, ...]) -> Iterator[tuple[Item, Field | None, str]]:
    """(item, its unbound form field, the legend of its group) for each field of ``schema``."""
    for name, sf in schema.fields.items():
        path = (*prefix, name)
        form_name = "__".join(path)
        legend = field_words(prefix[-1]) if prefix else ""
        description = (sf.metadata or {}).get("description")
        required = bool(sf.required)
        qualified = f"{type(schema).__name__}.{name}"
        label = LABELS.get(qualified) or field_words(name)
        missing = _missing(qualified, name)
        if isinstance(sf, mf.Nested):
            nested = sf.schema
            yield from _items(nested, path)
            continue
        if isinstance(sf, mf.Date):
            item = Item(path, form_name, "date", required, missing)
            made = BlankableDateField(
                label, description="For example, 27 3 2027", widget=GovDateInput()
            )
        elif isinstance(sf, mf.Time):
            item = Item(path, form_name, "time", required, missing)
            made = StringField(
                label, description="In hours and minutes, like 14:30", widget=GovTextInput()
            )
        elif isinstance(sf, mf.List):
            of_dates = isinstance(sf.inner, mf.Date)
            item = Item(path, form_name, "date_lines" if of_dates else "lines", required, missing)
            hint = "One date a line, like 27/3/2027." if of_dates else LINES_HINT
            made = TextAreaField(label, description=hint, widget=GovTextArea())
        elif choices := _one_of(sf):
            item = Item(path, form_name, "choice", required, missing)
            for choice in choices:  # the hint names the choices as the radios do
                description = (description or "").replace(
                    choice, f"'{CHOICES.get(choice, choice)}'"
                )
            made = RadioField(
                label,
                choices=[
                    SelectChoice(c, CHOICES.get(c, c.replace("_", " ").capitalize()))
                    for c in choices
                ],
                description=description or "",
                widget=GovRadioInput(),
                validate_choice=False,  # the schema judges the value
            )
        else:  # text
            short = _max_length(sf) <= SHORT_TEXT
            item = Item(path, form_name, "text" if short else "textarea", required, missing)
            widget = GovTextInput() if short else GovTextArea()
            kind = StringField if short else TextAreaField
            made = kind(label, description=description or "", widget=widget)
        yield item, made, legend


def _one_of(sf: mf.Field) -> list[str] | None:
    if isinstance(sf, mf.Enum):
        return [str(member.value if sf.by_value else member.name) for member in sf.enum]
    for validator in sf.validators:
        if isinstance(validator, validate.OneOf):
            return [str(c) for c in validator.choices]
    return None


def _max_length(sf: mf.Field) -> int:
    for validator in sf.validators:
        if isinstance(validator, validate.Length) and validator.max is not None:
            return validator.max
    return 10_000


def _schema(name: str, action_plan: bool) -> Schema:
    """A step's data schema: a workflow event's (with its action plan where the policy asks
    for one), or a change's."""
    if name in {event.value for event in Event}:
        return event_schema(Event(name), action_plan)
    return CHANGES[Change(name)].data()


@cache
def _form_class(name: str, action_plan: bool) -> type[EventForm]:
    schema = _schema(name, action_plan)
    attrs: dict[str, Any] = {}
    items: list[Item] = []
    groups: list[Group] = []
    for item, made, legend in _items(schema, ()):
        attrs[item.name] = made
        items.append(item)
        group_legend = legend or None
        if not groups or groups[-1].legend != group_legend:
            groups.append(Group(group_legend))
        groups[-1].names.append(item.name)
    attrs["event"] = name
    attrs["items"] = tuple(items)
    attrs["groups"] = tuple(groups)
    return type(f"{name.title().replace('_', '')}Form", (EventForm,), attrs)


def form_for(event: str, action_plan: bool, *, formdata: Any = None, **kw: Any) -> EventForm:
    """The form of ``event`` (under a policy that does or does not ask for an action plan);
    its fields named after the event, so the page's forms never share an id."""
    cls = _form_class(event, action_plan)
    form = cls(formdata=formdata, prefix=event, **kw)
    form.blank = formdata is None
    return form


_BLANK: dict[type[EventForm], Markup] = {}
