"""Signed tokens of the portal (django.core.signing, SECRET_KEY, own salts).

* Share tokens (``/t/<token>/``): name a ShareLink row (tenant id + nonce); valid while the
  row is not revoked, not expired, issued after the tenant's "revoke all" and while sharing
  is on. Never an integer id, never guessable.
* Access tokens: issued with each rendered page, carry (tenant, public id, level, share
  nonce) for the websocket, the POD images and the page's actions; 12 hours.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing

SHARE_SALT = "milepost.track.share"
ACCESS_SALT = "milepost.track.access"
ACCESS_MAX_AGE_S = 12 * 3600
SHARE_MAX_AGE_S = 366 * 86400  # the row's expires_at is the real limit


@dataclass(frozen=True)
class Access:
    tenant_id: int
    public_id: str
    full: bool
    nonce: str | None = None  # the share link it came from, re-checked on every use


def share_token(*, tenant_id: int, nonce: str) -> str:
    return signing.TimestampSigner(salt=SHARE_SALT).sign_object({"t": tenant_id, "n": nonce})


def share_read(token: str) -> tuple[int, str] | None:
    try:
        data = signing.TimestampSigner(salt=SHARE_SALT).unsign_object(
            token, max_age=SHARE_MAX_AGE_S
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), int):
        return None
    return data["t"], str(data.get("n", ""))


def access_token(access: Access) -> str:
    return signing.TimestampSigner(salt=ACCESS_SALT).sign_object(
        {"t": access.tenant_id, "p": access.public_id, "f": access.full, "n": access.nonce}
    )


def access_read(token: str) -> Access | None:
    try:
        data = signing.TimestampSigner(salt=ACCESS_SALT).unsign_object(
            token, max_age=ACCESS_MAX_AGE_S
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), int):
        return None
    return Access(
        tenant_id=data["t"],
        public_id=str(data.get("p", "")),
        full=bool(data.get("f")),
        nonce=data.get("n"),
    )
