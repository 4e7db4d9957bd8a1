"""ETag / If-None-Match on reads, for every TenantAPIView.

The tag is a hash of the answer's bytes (and of who may see it: the same URL shows a
customer-limited caller less), so it changes exactly when the answer does. A GET or HEAD with
``If-None-Match`` naming the current tag is answered 304 without a body. The work is still
done (the answer must be built to be hashed); what is saved is the transfer and the client's
parsing, and a client can poll cheaply.
"""

from __future__ import annotations

import hashlib

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags

READ_METHODS = frozenset({"GET", "HEAD"})
KEPT_ON_304 = ("ETag", "Vary", "Cache-Control")


def etag_for(content: bytes, audience: str) -> str:
    digest = hashlib.sha256(audience.encode() + b"\0" + content).hexdigest()
    return f'"{digest[:32]}"'


def matches(if_none_match: str, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = parse_etags(if_none_match)
    # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def conditional(response: HttpResponse, *, if_none_match: str, audience: str) -> HttpResponse:
    """Tag a successful read; a 304 when the client already has this answer."""
    if response.status_code != 200 or response.streaming:
        return response
    etag = etag_for(response.content, audience)
    response["ETag"] = etag
    if "Cache-Control" not in response:
        # Personal data: a shared cache must not keep it; the client revalidates.
        response["Cache-Control"] = "private, no-cache"
    if not matches(if_none_match, etag):
        return response
    not_modified = HttpResponseNotModified()
    for name in KEPT_ON_304:
        if response.has_header(name):
            not_modified[name] = response[name]
    return not_modified
