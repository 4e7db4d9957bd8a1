"""``Idempotency-Key`` on POST, with Stripe's semantics, for every TenantAPIView.

* The first request with a key runs; its answer (status, content type, body bytes) is kept
  for 24 hours (``IDEMPOTENCY_TTL``), per tenant and caller (API key or user).
* A retry with the same key and the same request (method, path, query and body) gets the kept
  answer again, byte for byte, with ``Idempotent-Replayed: true``; nothing runs again.
* The same key with another request is a 422 (``idempotency_key_reused``).
* Concurrent duplicates create one object: the key's row is inserted in the request's own
  transaction (tenancy.middleware opens one per request), so a second insert of the same key
  waits on PostgreSQL's unique index until the first request commits, then finds its answer.
  When the first one fails with a 5xx its transaction (and the row) is rolled back, and the
  waiting one runs as if it were first.
* Server errors (5xx) and rate-limit refusals (429) are not kept: retrying them is the point.

The rows are tenant-owned (row-level security as every other table); expired ones are
replaced when their key comes again and purged now and then by later requests.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.request import Request

from tenancy.api.parsers import RawBody
from tenancy.context import current_tenant_id
from tenancy.errors import Conflict, DomainError
from tenancy.models import IdempotencyKey
from tenancy.text import printable

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
IDEMPOTENCY_TTL = timedelta(hours=24)
PURGE_ONE_IN = 64  # requests that also delete the tenant's expired keys


class IdempotencyKeyInvalid(DomainError):
    code = "invalid_idempotency_key"
    status = 400


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422


@dataclass(frozen=True)
class Claim:
    """A key this request now owns (``row_id``), or the answer kept for it (``kept``)."""

    row_id: int | None
    kept: IdempotencyKey | None


def key_of(request: Request) -> str | None:
    """The request's Idempotency-Key (None without one); a 400 when it is not usable."""
    value = request._request.headers.get(HEADER)
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_KEY_LENGTH or printable(value) != value:
        raise IdempotencyKeyInvalid(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable characters.", field=HEADER
        )
    return value


def owner_of(request: Request) -> str:
    django_request = request._request
    api_key = getattr(django_request, "api_key", None)
    if api_key is not None:
        return f"key:{api_key.pk}"
    return f"user:{django_request.user.pk}"


def fingerprint(request: Request) -> str:
    """What makes two requests "the same": method, path, query and body. JSON bodies are
    compared as data (key order and spacing do not matter), other bodies as bytes, forms by
    their fields and the SHA-256 of their files."""
    django_request = request._request
    digest = hashlib.sha256()
    digest.update(
        f"{request.method} {django_request.path}?{django_request.GET.urlencode()}\n".encode()
    )
    data: Any = request.data
    if isinstance(data, RawBody):
        digest.update(b"raw\n" + data.data)
    elif hasattr(data, "lists"):  # a form (QueryDict): fields, then files
        fields = sorted((k, v) for k, v in data.lists() if k not in request.FILES)
        digest.update(orjson.dumps(fields))
        for name in sorted(request.FILES):
            for upload in request.FILES.getlist(name):
                content = upload.read()
                upload.seek(0)
                digest.update(
                    f"\n{name}:{upload.name}:".encode() + hashlib.sha256(content).digest()
                )
    else:
        digest.update(orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str))
    return digest.hexdigest()


CLAIM = (
    "INSERT INTO tenancy_idempotencykey "
    "(tenant_id, owner, key, fingerprint, status_code, content_type, body, created_at) "
    "VALUES (%s, %s, %s, %s, 0, '', ''::bytea, %s) "
    "ON CONFLICT (tenant_id, owner, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
    "status_code = 0, content_type = '', body = ''::bytea, created_at = EXCLUDED.created_at "
    "WHERE tenancy_idempotencykey.created_at < %s RETURNING id"
)


def claim(*, owner: str, key: str, fingerprint: str) -> Claim:
    """Take the key for this request, or find the answer kept for it.

    Waits, inside PostgreSQL, while another transaction holds the same key uncommitted."""
    now = timezone.now()
    tenant_id = current_tenant_id()
    with connection.cursor() as cursor:
        cursor.execute(CLAIM, [tenant_id, owner, key, fingerprint, now, now - IDEMPOTENCY_TTL])
        row = cursor.fetchone()
    if row is not None:
        if random.randrange(PURGE_ONE_IN) == 0:
            IdempotencyKey.objects.filter(created_at__lt=now - IDEMPOTENCY_TTL).delete()
        return Claim(row_id=row[0], kept=None)
    kept = IdempotencyKey.objects.get(owner=owner, key=key)
    if kept.status_code == 0:  # cannot be seen committed: the answer is kept with the work
        raise Conflict(f"A request with this {HEADER} is still in progress.", field=HEADER)
    if kept.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"This {HEADER} was already used for another request; use a new key.",
            field=HEADER,
        )
    return Claim(row_id=None, kept=kept)


def keep(*, row_id: int, response: HttpResponse) -> None:
    """Store the answer of the request that owns the key (same transaction as its work)."""
    IdempotencyKey.objects.filter(pk=row_id).update(
        status_code=response.status_code,
        content_type=response.get("Content-Type", "")[:100],
        body=bytes(response.content),
    )


def release(*, row_id: int) -> None:
    """The answer is not kept (see ``keeps``): the key may be used again."""
    IdempotencyKey.objects.filter(pk=row_id).delete()


def replay(kept: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        bytes(kept.body), status=kept.status_code, content_type=kept.content_type or None
    )
    response["Idempotent-Replayed"] = "true"
    return response


def keeps(status_code: int) -> bool:
    """Which answers are kept: everything but server errors and rate-limit refusals."""
    return status_code < 500 and status_code != 429
