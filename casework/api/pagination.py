"""Lists are paginated: ``page`` and ``page_size`` in, the X-Pagination header out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from flask_smorest import Page
from sqlalchemy import Select, bindparam, func, select

from casework.extensions import db

PAGINATION = {"page_size": 50, "max_page_size": 500}
VAST_OFFSET = 2**31


@dataclass(frozen=True)
class Bound:
    """A list's statement built once with bound parameters, and this request's values for them:
    the pager then builds no statement either (building one costs more than running it)."""

    statement: Select
    params: dict[str, Any] = field(default_factory=dict)
    # Each row of a statement of columns made what the response schema dumps (None: the
    # statement is of one entity, whose objects are the items).
    shape: Callable[[Any], Any] | None = None


class SelectPage(Page):
    """flask-smorest's pager over a SQLAlchemy select (or a ``Bound`` one): only the page's rows
    are loaded, with the list's length in the same statement (a window count, so a page costs
    one statement; a second, a count, only for a page past the end)."""

    collection: Select | Bound

    @cached_property
    def _bound(self) -> tuple[Select, Select, dict[str, Any]]:
        """The page's statement, the count's and their parameters (built at most once a
        process for a ``Bound``)."""
        collection = self.collection
        if isinstance(collection, Bound):
            return (*_built_once(collection.statement), collection.params)
        return (*_statements(collection), {})

    @cached_property
    def _page(self) -> tuple[list[Any], int]:
        """The page's rows (the list's length their last column) and the list's length."""
        params = self.page_params
        page, count, values = self._bound
        window = {"page_offset": params.first_item, "page_limit": params.page_size}
        # A vast page number is past the end of any list, and its offset past what the
        # database takes for one.
        vast = params.first_item >= VAST_OFFSET
        rows = [] if vast else db.session.execute(page, {**values, **window}).all()
        if rows:
            return rows, rows[0][-1]
        total = 0 if params.first_item == 0 else db.session.scalar(count, values) or 0
        return [], total

    @property
    def items(self):
        rows, _ = self._page
        shape = getattr(self.collection, "shape", None)
        if shape is not None:
            return [shape(row) for row in rows]
        return [row[0] for row in rows]

    @property
    def item_count(self) -> int:
        return self._page[1]


def _statements(collection: Select) -> tuple[Select, Select]:
    page = (
        collection.add_columns(func.count().over().label("list_length"))
        .offset(bindparam("page_offset"))
        .limit(bindparam("page_limit"))
    )
    return page, select(func.count()).select_from(collection.order_by(None).subquery())


# A few dozen statements built once (a list's for each kind of user and set of filters).
_built_once = lru_cache(maxsize=256)(_statements)
