"""The one error hierarchy of ckn.

Every error a user can cause or meet derives from :class:`CknError` and carries the HTTP status the API
answers with; ``ckn/api/app.py`` maps the whole family to RFC 9457 ``application/problem+json`` with one
handler, and the CLI prints the same title and detail.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CknError(Exception):
    """Base class: a problem with a title, a detail and an HTTP status."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, *, retry_after_s: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}
        """HTTP headers the answer carries: ``Retry-After`` when ``retry_after_s`` says when to."""
        if retry_after_s is not None:
            self.headers["Retry-After"] = str(retry_after_s)

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        slug = type(self).__name__
        return {
            "type": f"https://ckn.dev/problems/{slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


class ConfigError(CknError):
    """Settings are missing, unknown or inconsistent (raised at start-up)."""

    status = 500
    title = "Configuration error"


class InvalidInput(CknError):
    """A request or a record is malformed."""

    status = 422
    title = "Invalid input"


class InvalidLabel(InvalidInput):
    """A node kind or relationship type that is not in the domain model."""

    title = "Unknown node kind or relationship type"


class DanglingRelation(InvalidInput):
    """A relation points at an entity the store does not hold."""

    title = "Relation endpoint not found"


class SchemaViolation(InvalidInput):
    """A relation joins kinds of entities its type does not allow."""

    title = "Relation not allowed between these kinds"


class LimitExceeded(InvalidInput):
    """A request asks for more than the configured caps (depth, page size, result size)."""

    title = "Request exceeds a limit"


class UploadTooLarge(CknError):
    """An upload above the size limit (refused while it arrives)."""

    title = "Upload too large"
    status = 413


class StoreBusy(CknError):
    """Another writer holds the store's write lock, and did not let it go in time."""

    title = "Store busy"
    status = 409


class Conflict(CknError):
    """A request that contradicts itself or what is stored (two uploads of one name)."""

    title = "Conflict"
    status = 409


class Ambiguous(CknError):
    """A name or imported id that several entities answer to (the problem lists them)."""

    title = "Several entities match"
    status = 409


class Unauthorized(CknError):
    """No key, or a key that is not valid."""

    title = "Authentication required"
    status = 401


class Forbidden(CknError):
    """A valid key whose role may not call this operation."""

    title = "Not allowed for this role"
    status = 403


class RateLimited(CknError):
    """A key that made more requests than its share of a minute."""

    title = "Too many requests"
    status = 429

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, retry_after_s=retry_after_s)
        self.extra["retry_after_s"] = retry_after_s  # in the problem too, as before


class NotFound(CknError):
    """The entity or resource does not exist."""

    status = 404
    title = "Not found"


class StoreUnavailable(CknError):
    """The graph store cannot be reached or opened."""

    status = 503
    title = "Store unavailable"


class Computing(CknError):
    """What a request asks for is being computed for another request, for longer than its budget."""

    status = 503
    title = "Being computed"


class ProviderUnavailable(CknError):
    """The identity provider's signing keys cannot be fetched: no token can be checked now."""

    status = 503
    title = "Identity provider unavailable"


class StoreVersionError(CknError):
    """The data on disk was written by an incompatible version of ckn."""

    status = 500
    title = "Store format not supported"
