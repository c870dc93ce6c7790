"""URL converters: ids in paths are bounded, so a huge number is a 404, never an overflow; the
same for a number typed into a query string or a form."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # the largest INTEGER id PostgreSQL stores


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a row id from 1 to MAX_ID (documented so in the OpenAPI)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def whole_number(text: str | None, *, lowest: int = 0) -> int | None:
    """A whole number from a query string or a form field (an id, a version, a page), from
    ``lowest`` to MAX_ID; None for anything else. ASCII digits only: ``str.isdigit()`` takes
    '²', which ``int()`` refuses, and ``int()`` takes '٣' and refuses 5,000 digits."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if lowest <= value <= MAX_ID else None
