"""Domain errors of ingestion (all are tenancy.errors.DomainError: the API maps them once)."""

from __future__ import annotations

from tenancy.errors import DomainError


class IngestError(DomainError):
    """An ingestion rule was broken: bad channel or format, a body refused, not replayable."""
