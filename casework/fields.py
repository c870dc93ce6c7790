"""Marshmallow fields used at every boundary (API, case events, records): ids a column can hold,
text every database keeps within its column's length, days and UK wall-clock times casework can
compute with (a schema rejects the rest, so bad input is invalid data, never a server error)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError, fields, validate

from casework.routing import MAX_ID

UK = ZoneInfo("Europe/London")
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
_IDS = validate.Range(min=1, max=MAX_ID)  # an integer column's range, as in paths
_DAYS = validate.Range(min=FIRST_DAY, max=LAST_DAY)
_TIMES = validate.Range(
    min=datetime.combine(FIRST_DAY, datetime.min.time()),
    max=datetime.combine(LAST_DAY, datetime.max.time()),
)


UNSTORABLE = "Contains characters that cannot be kept (a NUL or an unpaired surrogate)."


def storable_text(value: str) -> bool:
    """Text every database keeps and UTF-8 can encode (for the audit hash)."""
    return "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)


def storable(value: str) -> None:
    """A validator: refuses text ``storable_text`` would not keep."""
    if not storable_text(value):
        raise ValidationError(UNSTORABLE)


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection): free text
# from a file is refused with one (the register import), and every CSV casework writes makes such
# a cell plain text (casework.documents.tables.neutralise).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def starts_a_formula(value: str) -> bool:
    return value.startswith(FORMULA_STARTS)


def record_id(**kw: Any) -> fields.Integer:
    return fields.Integer(validate=_IDS, **kw)


def ids(max_items: int = 50, **kw: Any) -> fields.List:
    return fields.List(record_id(), validate=validate.Length(max=max_items), **kw)


def text(max_length: int, *, min_length: int = 1, **kw: Any) -> fields.String:
    """Text up to a column's length; required text may not be empty."""
    return fields.String(validate=[validate.Length(min_length, max_length), storable], **kw)


def optional_text(max_length: int, **kw: Any) -> fields.String:
    """Text that may be null (or empty)."""
    return text(max_length, min_length=0, allow_none=True, **kw)


def email(**kw: Any) -> fields.Email:
    return fields.Email(validate=[validate.Length(max=254), storable], **kw)


def day(*validators: Any, **kw: Any) -> fields.Date:
    return fields.Date(validate=[_DAYS, *validators], **kw)


def on_the_calendar(value: datetime) -> None:
    """A validator: a time, with or without an offset, on a day casework computes with (an
    aware time does not compare with naive bounds, so its day is what is checked)."""
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise ValidationError(f"Must be between {FIRST_DAY.year} and {LAST_DAY.year}.")


def percent(**kw: Any) -> fields.Float:
    return fields.Float(validate=validate.Range(0, 100), **kw)


def not_future(value: date) -> None:
    if value > date.today():
        raise ValidationError("Must not be in the future.")


class LocalDateTime(fields.NaiveDateTime):
    """A UK wall-clock time: one given with an offset is converted to UK time; sent back with
    the UK offset of the day."""

    def __init__(self, **kw: Any) -> None:
        kw.setdefault("metadata", {}).setdefault(
            "description",
            "UK wall-clock time: without an offset it is taken as UK time, with one it is "
            "converted; returned with the UK offset of the day.",
        )
        super().__init__(timezone=UK, validate=_TIMES, **kw)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kw: Any) -> datetime:
        if isinstance(value, str) and not any(sep in value for sep in "Tt "):
            raise ValidationError("Not a valid datetime: give a date and a time.")  # not midnight
        try:
            return super()._deserialize(value, attr, data, **kw)
        except OverflowError as exc:  # an offset pushing year 1 or 9999 out of range
            raise ValidationError("Not a valid datetime.") from exc

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kw: Any) -> str | None:
        return None if value is None else value.replace(tzinfo=UK).isoformat()
