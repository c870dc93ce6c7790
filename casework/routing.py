"""URL converters: ids in paths are bounded, so a huge number is a 404, never an overflow."""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # the largest INTEGER id PostgreSQL stores


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a row id from 1 to MAX_ID (documented so in the OpenAPI)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
