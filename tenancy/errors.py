"""The one domain error type: every rule a service enforces for its caller raises a subclass.

Pure Python (no Django): the parsers and the timeline engine use it too. The API maps every
``DomainError`` once, in ``tenancy.api.errors.exception_handler``, to
``{"error": {"code", "message", "fields"?}}`` with its HTTP status, so a view never converts
exceptions by hand and an error type a view did not expect still answers as itself, not 500.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FieldErrors = dict[str, list[str]]


class DomainError(Exception):
    """A broken rule, meant for the caller: a stable ``code``, an HTTP ``status``, a message,
    and optionally the fields at fault (field name -> messages)."""

    code: str = "invalid"
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: Mapping[str, str | Sequence[str]] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.fields: FieldErrors | None = _field_errors(fields, field, message)
        self.field: str | None = next(iter(self.fields)) if self.fields else None

    def __str__(self) -> str:
        return self.message


def _field_errors(
    fields: Mapping[str, str | Sequence[str]] | None, field: str | None, message: str
) -> FieldErrors | None:
    errors: FieldErrors = {}
    if field:
        errors[field] = [message]
    for name, value in (fields or {}).items():
        errors[name] = [value] if isinstance(value, str) else [str(v) for v in value]
    return errors or None


class NotFound(DomainError):
    """Missing, or someone else's: the two look the same to the caller."""

    code = "not_found"
    status = 404

    def __init__(self, message: str = "Not found.", *, code: str | None = None) -> None:
        super().__init__(message, code=code)


class Conflict(DomainError):
    code = "conflict"
    status = 409


class PayloadTooLarge(DomainError):
    code = "body_too_large"
    status = 413


class Unavailable(DomainError):
    """A dependency (database, broker) is down; the caller should retry after a while."""

    code = "unavailable"
    status = 503
    retry_after_s = 5
