"""JSON bodies casework reads: UTF-8, well formed and at most MAX_JSON_DEPTH levels deep.

Anything else is refused once, for the whole app, before any view or parser sees the body: as an
``invalid-json`` problem on the API (a plain page elsewhere). Python's parser raises
RecursionError on a body nested about a thousand levels deep, and ValueError (not a JSON
error) on a number of more than 4,300 digits; a body under the parser's limit but still deep
would reach marshmallow and the audit's JSON, which recurse too. Casework's own bodies are at
most five levels deep (an event's data with its action plan's lists).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from casework.api.problems import InvalidJson

MAX_JSON_DEPTH = 32


def _check_depth(value: Any) -> None:
    """Refuses ``value`` nested deeper than MAX_JSON_DEPTH: a loop, since recursing over
    hostile input is what this guards against."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"The body is nested deeper than {MAX_JSON_DEPTH} levels.")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def loads(data: str | bytes) -> Any:
    """``json.loads`` that refuses what casework cannot read with a ValueError saying why."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except UnicodeDecodeError as exc:
        raise ValueError(f"The body is not UTF-8 text (byte {exc.start}).") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"The body is nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"The body is not well-formed JSON: {exc}.") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise ValueError(f"The body is not JSON casework can read: {exc}.") from None
    if isinstance(value, dict | list):
        _check_depth(value)
    return value


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading bodies with ``loads`` above (``request.get_json()`` anywhere)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


def refuse_unreadable_json() -> None:
    """Before every request: a JSON body must be one casework can read. An empty body is left
    to the view (its schema says what is missing)."""
    if not request.is_json:
        return
    data = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413 here
    if not data.strip():
        return
    try:
        loads(data)
    except ValueError as exc:
        raise InvalidJson(str(exc)) from None


def init_json(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)
    app.before_request(refuse_unreadable_json)
