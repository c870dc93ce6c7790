"""What the JSON API keeps: staff members' API tokens and the responses to idempotent POSTs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casework.extensions import db
from casework.models.staff import User
from casework.models.types import UTCDateTime, utcnow


class ApiToken(db.Model):
    """A bearer token acting as one staff user, with that user's roles and scope.

    Only the SHA-256 of the secret is kept. A token is 256 random bits, so a fast hash is enough:
    a slow password hash guards guessable secrets, and would cost every API request.
    """

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the secret, so that a user can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<ApiToken {self.id} {self.prefix}… user={self.user_id}>"


class IdempotentRequest(db.Model):
    """A POST made with an Idempotency-Key: what it asked, and the response it got.

    A retry with the same key and the same request gets the stored response back and changes
    nothing; the same key with a different request is refused.
    """

    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Empty while the first request is still running.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None]
    response_headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
