"""The one guard for every HTTP request Milepost sends out: polling adapters now, partner
webhooks and SMS providers later. Nothing else in the project opens outbound connections.

What it enforces (a tenant chooses these URLs, so each one may be an attack on our network):

- **Schemes**: ``https``; plain ``http`` only to an address inside ``WEBHOOK_ALLOWED_NETWORKS``.
- **Destinations**: the address is checked *when the socket is opened*, not before: the host is
  resolved once, every resolved address must pass, and the socket connects to exactly the
  address that was checked (so a DNS rebind between check and connect cannot win). Refused:
  loopback, private, link-local, multicast, reserved, unspecified, shared (CGNAT), the
  documentation/benchmark ranges, cloud metadata — IPv4, IPv6 and every IPv6 form that embeds
  an IPv4 address (mapped, NAT64, 6to4, Teredo). Literal hosts are read the way
  ``inet_aton`` reads them ("2130706433", "0177.0.0.1", "0x7f.1", "127.1" are 127.0.0.1).
  ``WEBHOOK_ALLOWED_NETWORKS`` (CIDRs, empty by default) is the one explicit exception, for
  local test stubs; cloud metadata addresses stay refused even inside it.
- **Redirects** are followed by hand (at most ``max_redirects``), each hop checked again;
  credentials are not sent on to another origin.
- **Bounds**: one deadline (``timeout_s``, at most ``MAX_TIMEOUT_S``) over the whole exchange,
  enforced on every socket read and write, and at most ``max_bytes`` of (decoded) body.
- **Errors** (:class:`OutboundError`, :class:`OutboundRefused`) carry only our own short text:
  nothing the remote sent (reason phrases, bodies, TLS alerts) reaches a tenant. The details go
  to the log.

``check_url`` runs the checks that need no DNS (scheme, host, literal addresses, localhost):
use it when a URL is saved, for a field error before anything is fetched. urllib3 does the HTTP;
this module only decides where its sockets may go.
"""

from __future__ import annotations

import http
import http.client
import ipaddress
import logging
import math
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from urllib3 import HTTPConnectionPool, HTTPResponse, HTTPSConnectionPool, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationParseError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import parse_url

from tenancy.errors import DomainError

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_TIMEOUT_S = 10.0
MAX_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 10.0  # per connect attempt, within the deadline
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 3
CHUNK_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that may follow a redirect to another origin; everything else (API keys, tokens,
# cookies) stays with the origin the caller named.
CROSS_ORIGIN_HEADERS = frozenset({"accept", "accept-language", "content-type", "user-agent"})
LOCALHOST_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")

# Never reachable, whatever WEBHOOK_ALLOWED_NETWORKS says: the instance credentials of the host.
METADATA_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.169.254/32",  # AWS, GCP, Azure, OpenStack, DigitalOcean
        "169.254.170.2/32",  # AWS ECS task credentials
        "100.100.100.200/32",  # Alibaba Cloud
        "192.0.0.192/32",  # Oracle Cloud (legacy)
        "fd00:ec2::254/128",  # AWS IMDS over IPv6
    )
)

# (network, why it is refused). The IANA special-purpose registries, stated explicitly: the
# ``ipaddress`` predicates disagree between Python versions (224.0.0.1 and 192.0.0.192 are
# "global" to 3.11). Anything not listed that ``ipaddress`` does not call global is refused too.
REFUSED_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(n), why)
    for n, why in (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a reserved address"),
        ("192.88.99.0/24", "a reserved address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a reserved address"),
        ("198.51.100.0/24", "a reserved address"),
        ("203.0.113.0/24", "a reserved address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),  # includes 255.255.255.255
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("::/96", "a reserved address"),  # IPv4-compatible (deprecated)
        ("64:ff9b:1::/48", "a private address"),  # local-use NAT64
        ("100::/64", "a reserved address"),
        ("2001::/23", "a reserved address"),  # includes Teredo 2001::/32
        ("2001:db8::/32", "a reserved address"),
        ("3fff::/20", "a reserved address"),
        ("5f00::/16", "a reserved address"),
        ("fc00::/7", "a private address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a private address"),
        ("ff00::/8", "a multicast address"),
    )
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
PLAIN_HTTP = "plain http outside the allowed networks (use https)"
HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class OutboundError(DomainError):
    """An outbound request failed (timeout, unreachable, too large, bad TLS, too many
    redirects). The message is ours alone, safe to show a tenant; the details are logged."""

    code = "outbound_failed"
    status = 502


class OutboundRefused(OutboundError):
    """The URL or the address it leads to is not allowed. Raised before any connection to it;
    the message reads after the field name ("base_url: must not point to …")."""

    code = "destination_refused"
    status = 400


@dataclass(frozen=True)
class OutboundResponse:
    """What answered: status, headers (names lower-cased), the body (at most max_bytes) and
    the URL that gave it (after redirects)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str
    redirects: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def reason(self) -> str:
        """The standard phrase of the status (never the remote's own reason text)."""
        try:
            return http.HTTPStatus(self.status).phrase
        except ValueError:
            return ""


# -- addresses ------------------------------------------------------------------------------


def allowed_networks_setting() -> tuple[IPNetwork, ...]:
    """``settings.WEBHOOK_ALLOWED_NETWORKS`` as networks (read per call: tests override it)."""
    return _networks(tuple(getattr(settings, "WEBHOOK_ALLOWED_NETWORKS", ()) or ()))


@lru_cache(maxsize=32)
def _networks(values: tuple[str | IPNetwork, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _resolve_allowed(allowed: Iterable[str | IPNetwork] | None) -> tuple[IPNetwork, ...]:
    return allowed_networks_setting() if allowed is None else _networks(tuple(allowed))


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a literal host stands for, or None for a name.

    IPv6 in brackets or bare (a zone index is allowed), IPv4 the way ``inet_aton`` reads it:
    one to four parts, each decimal, octal (leading 0) or hex (0x), the last filling the
    remaining bytes — so "2130706433", "0177.0.0.1", "0x7f.1" and "127.1" are all 127.0.0.1.
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    text = text[:-1] if text.endswith(".") else text
    parts = text.split(".")
    if not text or len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        try:
            if part.startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part[1:], 8))
            else:
                numbers.append(int(part, 10) if part.isdigit() else -1)
        except ValueError:
            return None
    if any(n < 0 for n in numbers):
        return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_refusal(
    address: IPAddress, *, allowed: Sequence[IPNetwork] = (), scheme: str = "https"
) -> str | None:
    """Why ``address`` may not be connected to (a phrase: "a loopback address"), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(int(address))  # the zone index changes nothing
    if any(address in network for network in METADATA_NETWORKS):
        return "a cloud metadata address"
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        refused = address_refusal(inner, allowed=allowed, scheme=scheme) if inner else None
        if refused or address.ipv4_mapped is not None:
            return refused  # a mapped address is its IPv4 address; the others must pass both
    if any(address.version == net.version and address in net for net in allowed):
        return None
    for network, why in REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            return why
    if not address.is_global or address.is_multicast:
        return "not a public address"
    if scheme != "https":
        return PLAIN_HTTP
    return None


# -- URLs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # as urllib3 will use it (IPv6 without brackets)
    port: int
    request_uri: str

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def _target(url: str, allowed: Sequence[IPNetwork], field_name: str | None) -> _Target:
    """The parsed URL after every check that needs no DNS (OutboundRefused otherwise)."""

    def refuse(message: str) -> OutboundRefused:
        return OutboundRefused(message, field=field_name)

    if not isinstance(url, str) or not url.strip():
        raise refuse("must be an absolute https:// URL")
    if any(ord(c) < 0x21 or c == "\\" for c in url.strip()):
        raise refuse("must not contain spaces, control characters or backslashes")
    try:
        parts = parse_url(url.strip())
    except LocationParseError:
        raise refuse("is not a valid URL") from None
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise refuse("must be an absolute https:// URL")
    if not parts.host:
        raise refuse("must name a host")
    if parts.auth:
        raise refuse("must not contain a user name or password (send credentials as headers)")
    host = parts.host.strip("[]").lower()
    name = host.rstrip(".")
    if name in LOCALHOST_NAMES or name.endswith(".localhost"):
        raise refuse("must not point to localhost")
    literal = parse_ip_literal(host)
    if literal is not None:
        why = address_refusal(literal, allowed=allowed, scheme=scheme)
        if why == PLAIN_HTTP:
            raise refuse("must use https://")
        if why:
            raise refuse(f"must not point to {why} ({literal})")
    elif scheme == "http" and not allowed:
        raise refuse("must use https://")
    port = parts.port or (443 if scheme == "https" else 80)
    return _Target(scheme, host, port, parts.request_uri)


def check_url(
    url: str,
    *,
    allowed_networks: Iterable[str | IPNetwork] | None = None,
    field: str | None = None,
) -> None:
    """Refuse a URL that can never be fetched, without DNS or any connection: a scheme other
    than https (http only with allowed networks), no host, credentials in the URL, localhost,
    a literal address in a refused range. Raises :class:`OutboundRefused` (``field`` names
    the field at fault for the API's error shape). A name that resolves to a refused address
    passes here and is refused by ``fetch`` when it connects."""
    _target(url, _resolve_allowed(allowed_networks), field)


# -- sockets --------------------------------------------------------------------------------


def _arm(sock: socket.socket, deadline: float, op_timeout: float | None) -> None:
    """Before each read or write: the time left until the deadline bounds the operation."""
    if deadline == math.inf:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("outbound deadline passed")
    sock.settimeout(remaining if op_timeout is None else min(remaining, op_timeout))


class _DeadlineSocket(socket.socket):
    deadline: float = math.inf
    op_timeout: float | None = None

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        _arm(self, self.deadline, self.op_timeout)
        return super().recv(bufsize, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        _arm(self, self.deadline, self.op_timeout)
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        _arm(self, self.deadline, self.op_timeout)
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        _arm(self, self.deadline, self.op_timeout)
        super().sendall(data, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    deadline: float = math.inf
    op_timeout: float | None = None

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        _arm(self, self.deadline, self.op_timeout)
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        _arm(self, self.deadline, self.op_timeout)
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        _arm(self, self.deadline, self.op_timeout)
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        _arm(self, self.deadline, self.op_timeout)
        super().sendall(data, flags)


@dataclass
class _Guard:
    """What one fetch allows and when it must end; shared by the connections it opens."""

    scheme: str
    allowed: tuple[IPNetwork, ...]
    deadline: float

    def addresses(self, host: str, port: int) -> list[tuple[int, int, int, Any]]:
        """Every address of ``host``, each checked; OutboundRefused if any is refused."""
        literal = parse_ip_literal(host)
        if literal is not None:
            family = socket.AF_INET if literal.version == 4 else socket.AF_INET6
            found: list[tuple[int, int, int, Any]] = [
                (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, (str(literal), port))
            ]
        else:
            infos = _lookup(host, port, self.deadline)
            found = [(fam, kind, proto, addr) for fam, kind, proto, _name, addr in infos]
        if not found:
            raise OutboundError("could not resolve the host", code="unresolvable")
        for _family, _kind, _proto, sockaddr in found:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
            why = address_refusal(address, allowed=self.allowed, scheme=self.scheme)
            if why:
                logger.warning("outbound: refused %s (%s): %s", host, address, why)
                raise OutboundRefused(f"destination refused ({why})")
        return found

    def connect(
        self, host: str, port: int, socket_options: Sequence[tuple[int, int, Any]] | None
    ) -> socket.socket:
        """A socket connected to one of the checked addresses of host (never re-resolved)."""
        last: OSError | None = None
        for family, kind, proto, sockaddr in self.addresses(host, port):
            sock = _DeadlineSocket(family, kind, proto)
            try:
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.deadline = self.deadline
                sock.op_timeout = CONNECT_TIMEOUT_S
                _arm(sock, self.deadline, CONNECT_TIMEOUT_S)
                sock.connect(sockaddr)
            except OSError as error:
                sock.close()
                last = error
                continue
            sock.op_timeout = None  # from now on the deadline alone bounds each read and write
            return sock
        if isinstance(last, TimeoutError):
            raise OutboundError("timed out while connecting", code="timeout")
        logger.info("outbound: cannot connect to %s:%s: %s", host, port, last)
        raise OutboundError("could not connect", code="unreachable")


def _lookup(host: str, port: int, deadline: float) -> list[tuple[Any, ...]]:
    """getaddrinfo within the deadline: the system resolver has no timeout of its own to pass,
    so it runs in a thread that is abandoned (it ends with the resolver's own limit) if late."""
    outcome: list[Any] = []
    done = threading.Event()

    def resolve() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM))
        except (OSError, UnicodeError) as error:
            outcome.append(error)
        finally:
            done.set()

    threading.Thread(target=resolve, name="outbound-dns", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())) or not outcome:
        raise OutboundError("timed out while resolving the host", code="timeout")
    if isinstance(outcome[0], Exception):
        logger.info("outbound: cannot resolve %r: %s", host, outcome[0])
        raise OutboundError("could not resolve the host", code="unresolvable")
    return list(outcome[0])


class _GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _new_conn(self) -> socket.socket:
        sock = self.guard.connect(self.host, self.port, self.socket_options)
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


class _GuardedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, guard: _Guard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _new_conn(self) -> socket.socket:
        sock = self.guard.connect(self.host, self.port, self.socket_options)
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def connect(self) -> None:
        super().connect()  # the TLS handshake is bounded by the connect timeout
        if isinstance(self.sock, _DeadlineSSLSocket):
            self.sock.deadline = self.guard.deadline


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


def _ssl_context() -> ssl.SSLContext:
    """Certificates verified against the system store, host names checked (by urllib3)."""
    context = ssl.create_default_context()
    context.sslsocket_class = _DeadlineSSLSocket
    return context


# -- fetching -------------------------------------------------------------------------------


def check_headers(headers: Mapping[str, str], *, field: str | None = None) -> None:
    """Refuse header names that are not HTTP tokens and values with control characters (a
    CR or LF would let a caller's value write headers or requests of its own)."""
    for name, value in headers.items():
        if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
            raise OutboundError(
                f"{name!r} is not a valid header name", code="bad_header", status=400, field=field
            )
        if not isinstance(value, str) or HEADER_CONTROL.search(value):
            raise OutboundError(
                f"the value of {name} contains control characters",
                code="bad_header",
                status=400,
                field=field,
            )


def fetch(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
    allowed_networks: Iterable[str | IPNetwork] | None = None,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
) -> OutboundResponse:
    """Send one request through the guard and read the whole answer.

    Any HTTP status is returned as a response (the caller decides what an error is).
    Raises :class:`OutboundRefused` when the URL, an address it resolves to or a redirect
    target is not allowed — before connecting to it — and :class:`OutboundError` for a
    timeout (the whole exchange, redirects included, ends within ``timeout_s``), a failed
    connection or TLS handshake, a body over ``max_bytes``, more than ``max_redirects``
    redirects or a malformed answer. ``allowed_networks`` defaults to the setting
    ``WEBHOOK_ALLOWED_NETWORKS``.
    """
    allowed = _resolve_allowed(allowed_networks)
    check_headers(headers or {})
    timeout_s = min(max(float(timeout_s), 0.001), MAX_TIMEOUT_S)
    deadline = time.monotonic() + timeout_s
    method = method.upper()
    current, target = url, _target(url, allowed, None)
    sent = dict(headers or {})
    for hop in range(max(0, max_redirects) + 1):
        response = _exchange(target, method, sent, body, deadline, timeout_s, allowed, max_bytes)
        location = response.header("location")
        if response.status not in REDIRECT_STATUSES or not location:
            return OutboundResponse(
                response.status, response.headers, response.body, current, redirects=hop
            )
        if hop == max_redirects:
            raise OutboundError(
                f"too many redirects (more than {max_redirects})", code="too_many_redirects"
            )
        following = urllib.parse.urljoin(current, location)
        try:
            next_target = _target(following, allowed, None)
        except OutboundRefused as error:
            logger.warning("outbound: refused redirect to %r: %s", following, error)
            raise OutboundRefused(f"redirect refused: {error.message}") from None
        if response.status == 303 or (response.status in (301, 302) and method != "HEAD"):
            method, body = ("HEAD" if method == "HEAD" else "GET"), None
            sent = {k: v for k, v in sent.items() if k.lower() != "content-type"}
        if next_target.origin != target.origin:
            sent = {k: v for k, v in sent.items() if k.lower() in CROSS_ORIGIN_HEADERS}
        current, target = following, next_target
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _exchange(
    target: _Target,
    method: str,
    headers: Mapping[str, str],
    body: bytes | None,
    deadline: float,
    timeout_s: float,
    allowed: tuple[IPNetwork, ...],
    max_bytes: int,
) -> OutboundResponse:
    """One request and its answer, over a connection of its own."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise OutboundError(f"timed out after {timeout_s:g}s", code="timeout")
    guard = _Guard(target.scheme, allowed, deadline)
    pool: HTTPConnectionPool
    options: dict[str, Any] = {"maxsize": 1, "retries": False, "guard": guard}
    if target.scheme == "https":
        pool = _GuardedHTTPSPool(target.host, target.port, ssl_context=_ssl_context(), **options)
    else:
        pool = _GuardedHTTPPool(target.host, target.port, **options)
    response: HTTPResponse | None = None
    try:
        raw = pool.urlopen(
            method,
            target.request_uri,
            body=body,
            headers=dict(headers),
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            timeout=Timeout(connect=min(remaining, CONNECT_TIMEOUT_S), read=remaining),
        )
        assert isinstance(raw, HTTPResponse)
        response = raw
        content = _read_body(response, max_bytes)
        found = {name.lower(): response.headers[name] for name in response.headers}
        return OutboundResponse(response.status, found, content, "")
    except OutboundError:
        raise
    except (Urllib3Error, OSError, http.client.HTTPException, ValueError) as error:
        raise _failure(error, deadline, timeout_s) from None
    finally:
        if response is not None:
            response.release_conn()
        pool.close()


def _read_body(response: HTTPResponse, max_bytes: int) -> bytes:
    """At most max_bytes of the body; an answer that says or turns out larger is refused."""
    declared = response.headers.get("content-length", "")
    if declared.strip().isdigit() and int(declared) > max_bytes:
        raise OutboundError(f"response larger than {max_bytes} bytes", code="too_large")
    chunks: list[bytes] = []
    size = 0
    while True:
        # One byte past the limit at most: enough to know it is too large.
        chunk = response.read(min(CHUNK_BYTES, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise OutboundError(f"response larger than {max_bytes} bytes", code="too_large")
        chunks.append(chunk)


def _failure(error: Exception, deadline: float, timeout_s: float) -> OutboundError:
    """Our own short reason for what went wrong; the remote's text goes to the log only."""
    logger.info("outbound request failed: %r", error)
    if time.monotonic() >= deadline or isinstance(error, TimeoutError | Urllib3Timeout):
        return OutboundError(f"timed out after {timeout_s:g}s", code="timeout")
    if isinstance(error, SSLError | ssl.SSLError):
        return OutboundError("TLS handshake or certificate check failed", code="tls")
    if isinstance(error, ConnectionError):
        return OutboundError("the connection was closed by the remote", code="unreachable")
    return OutboundError("the remote sent an invalid HTTP response", code="bad_response")
