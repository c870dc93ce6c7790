"""Lists are paginated: ``page`` and ``page_size`` in, the X-Pagination header out."""

from __future__ import annotations

from flask_smorest import Page
from sqlalchemy import Select, func, select

from casework.extensions import db

PAGINATION = {"page_size": 50, "max_page_size": 500}


class SelectPage(Page):
    """flask-smorest's pager over a SQLAlchemy select: only the page's rows are loaded."""

    collection: Select

    @property
    def items(self):
        params = self.page_params
        if params.first_item >= params.item_count:  # past the end (or a vast page number)
            return []
        query = self.collection.offset(params.first_item).limit(params.page_size)
        return list(db.session.scalars(query))

    @property
    def item_count(self) -> int:
        counted = self.collection.order_by(None).subquery()
        return db.session.scalar(select(func.count()).select_from(counted)) or 0
