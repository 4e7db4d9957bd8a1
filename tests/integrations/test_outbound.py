"""The outbound-request guard (integrations/outbound.py). No database, no real DNS, and no
traffic anywhere but 127.0.0.1: tests/integrations/netstub.Edge stands at the socket edge and
records every lookup and connect, so each refusal is shown to happen before any connection."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from integrations import outbound
from integrations.outbound import OutboundError, OutboundRefused, check_url, fetch
from tests.integrations.netstub import Edge, StubServer, send

LOCAL = ["127.0.0.1/32"]


@pytest.fixture
def edge(monkeypatch) -> Edge:
    return Edge().install(monkeypatch)


@pytest.fixture
def stubs():
    servers: list[StubServer] = []

    def start(respond, tls=None) -> StubServer:
        servers.append(StubServer(respond, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def ok(handler, body=b"fine"):
    send(handler, 200, body, {"Content-Type": "text/plain"})


# -- literal hosts and check_url: no DNS, no connection --------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f.0.0.0x1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("10.1", "10.0.0.1"),
        ("169.16689662", "169.254.169.254"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("api.carrier.example", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("4294967296", None),
        ("08.1.1.1", None),
    ],
)
def test_literal_hosts_are_read_like_inet_aton(host, address):
    parsed = outbound.parse_ip_literal(host)
    assert (str(parsed) if parsed else None) == address


REFUSED_URLS = [
    ("https://127.0.0.1/", "loopback"),
    ("https://2130706433/", "loopback"),
    ("https://0177.0.0.1/", "loopback"),
    ("https://0x7f.1/", "loopback"),
    ("https://127.1:8443/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[::ffff:a00:1]/", "private"),
    ("https://[64:ff9b::7f00:1]/", "loopback"),  # NAT64 of 127.0.0.1
    ("https://[2002:7f00:1::]/", "loopback"),  # 6to4 of 127.0.0.1
    ("https://[2001::1]/", "reserved"),  # Teredo
    ("https://10.0.0.8/", "private"),
    ("https://172.16.4.4/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://[fc00::1]/", "private"),
    ("https://100.64.0.1/", "shared (CGNAT)"),
    ("https://169.254.1.1/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("https://169.16689662/", "cloud metadata"),
    ("https://[fd00:ec2::254]/", "cloud metadata"),
    ("https://100.100.100.200/", "cloud metadata"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://240.0.0.1/", "reserved"),
    ("https://255.255.255.255/", "reserved"),
    ("https://198.18.0.1/", "reserved"),
    ("https://localhost/", "localhost"),
    ("https://LocalHost.:8000/", "localhost"),
    ("https://tenant.localhost/", "localhost"),
    ("http://api.carrier.example/", "https://"),
    ("ftp://api.carrier.example/", "https://"),
    ("file:///etc/passwd", "https://"),
    ("gopher://127.0.0.1:6379/_INFO", "https://"),
    ("https://user:pw@api.carrier.example/", "user name or password"),
    ("https:///nohost", "host"),
    ("https://api.carrier .example/", "spaces"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED_URLS)
def test_check_url_refuses_without_resolving_or_connecting(edge, settings, url, why):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(OutboundRefused) as refused:
        check_url(url, field="base_url")
    assert why in refused.value.message
    assert refused.value.fields == {"base_url": [refused.value.message]}
    assert refused.value.status == 400 and refused.value.code == "destination_refused"
    assert edge.lookups == [] and edge.attempts == []


@pytest.mark.parametrize(("url", "why"), REFUSED_URLS)
def test_fetch_refuses_the_same_urls_before_any_lookup_or_connect(edge, settings, url, why):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(OutboundRefused) as refused:
        fetch("GET", url)
    assert why in refused.value.message
    assert edge.lookups == [] and edge.attempts == []


@pytest.mark.parametrize(
    "url",
    ["https://api.carrier.example/v2", "https://8.8.8.8/", "https://[2606:4700::1111]:8443/x"],
)
def test_check_url_accepts_public_destinations_without_looking_them_up(edge, settings, url):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    check_url(url)
    assert edge.lookups == [] and edge.attempts == []


def test_allowed_networks_are_the_one_exception_and_the_only_place_for_http(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    check_url("http://127.0.0.1:8080/")  # a local stub
    check_url("http://2130706433:8080/")  # the same address, spelled as an integer
    check_url("http://stub.test/")  # a name: its address is checked when fetching
    with pytest.raises(OutboundRefused, match="https://"):
        check_url("http://8.8.8.8/")  # plain http to a public address
    with pytest.raises(OutboundRefused, match="loopback"):
        check_url("https://127.0.0.2/")  # outside the allowed /32
    with pytest.raises(OutboundRefused, match="loopback"):
        check_url("http://127.0.0.1/", allowed_networks=[])  # a caller may narrow it
    # Metadata stays refused even when an operator allows everything.
    with pytest.raises(OutboundRefused, match="metadata"):
        check_url("http://169.254.169.254/", allowed_networks=["0.0.0.0/0"])


@pytest.mark.parametrize(
    "headers",
    [
        {"API-Key": "k\r\nX-Injected: 1"},
        {"API-Key": "k\nGET /admin HTTP/1.1"},
        {"Bad Name": "v"},
        {"X-Nul": "a\x00b"},
    ],
)
def test_headers_that_would_write_their_own_lines_are_refused_before_anything(edge, headers):
    with pytest.raises(OutboundError) as refused:
        fetch("GET", "https://api.carrier.example/", headers=headers)
    assert refused.value.code == "bad_header" and refused.value.status == 400
    assert edge.lookups == [] and edge.attempts == []


# -- at connect time: names, every address, rebinding ----------------------------------------


@pytest.mark.parametrize(
    ("resolved", "why"),
    [
        (["127.0.0.1"], "loopback"),
        (["10.20.30.40"], "private"),
        (["169.254.169.254"], "cloud metadata"),
        (["100.64.7.7"], "shared (CGNAT)"),
        (["::1"], "loopback"),
        (["::ffff:127.0.0.1"], "loopback"),
        (["::ffff:169.254.169.254"], "cloud metadata"),
        (["fe80::1"], "link-local"),
        (["fd12:3456::1"], "private"),
        (["93.184.215.14", "10.0.0.1"], "private"),  # one bad answer is enough
        (["2606:4700::1111", "::1"], "loopback"),
    ],
)
def test_a_name_resolving_to_a_refused_address_is_refused_before_connecting(
    edge, settings, resolved, why
):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    edge.answer("api.carrier.example", *resolved)
    with pytest.raises(OutboundRefused) as refused:
        fetch("GET", "https://api.carrier.example/v2/events")
    assert refused.value.message == f"destination refused (a {why} address)"
    assert edge.lookups == ["api.carrier.example"]
    assert edge.attempts == []


def test_a_public_answer_is_connected_to_exactly_as_checked(edge, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    edge.answer("api.carrier.example", "93.184.215.14")
    with pytest.raises(OutboundError) as failed:
        fetch("GET", "https://api.carrier.example/v2/events")
    # The edge refuses everything but 127.0.0.1 (no traffic leaves), so the guard tried the
    # checked address, once, and reports our own short reason.
    assert edge.connects == [("93.184.215.14", 443)]
    assert failed.value.code == "unreachable" and failed.value.message == "could not connect"


def test_plain_http_to_a_name_outside_the_allowed_networks_is_refused(edge, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    edge.answer("carrier.test", "93.184.215.14")
    with pytest.raises(OutboundRefused, match="plain http"):
        fetch("GET", "http://carrier.test/")
    assert edge.attempts == []


def test_a_dns_rebind_after_the_check_cannot_win(edge, settings, stubs):
    """The answer that was checked is the one connected to: a second lookup (which would now
    say 10.0.0.1) never happens for this connection."""
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    stub = stubs(ok)
    edge.answer("rebind.test", "127.0.0.1")
    edge.answer("rebind.test", "10.0.0.1")
    response = fetch("GET", f"http://rebind.test:{stub.port}/")
    assert response.status == 200 and response.body == b"fine"
    assert edge.lookups == ["rebind.test"]
    assert edge.connects == [("127.0.0.1", stub.port)]
    assert stub.requests[0][2]["host"] == f"rebind.test:{stub.port}"
    # The next request resolves again, sees the rebound address and never connects.
    with pytest.raises(OutboundRefused, match="private"):
        fetch("GET", f"http://rebind.test:{stub.port}/")
    assert edge.connects == [("127.0.0.1", stub.port)]


def test_an_integer_literal_is_connected_to_as_the_address_it_means(edge, settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    stub = stubs(ok)
    assert fetch("GET", f"http://2130706433:{stub.port}/").status == 200
    assert edge.lookups == []  # a literal is never handed to the resolver
    assert edge.connects == [("127.0.0.1", stub.port)]
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    with pytest.raises(OutboundRefused, match="loopback"):
        fetch("GET", f"http://2130706433:{stub.port}/")
    assert len(stub.requests) == 1 and len(edge.connects) == 1


# -- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "why"),
    [
        ("http://10.0.0.1/", "private"),
        ("http://0xa9.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[::ffff:127.0.0.2]/", "loopback"),
        ("http://localhost/", "localhost"),
        ("file:///etc/passwd", "https://"),
    ],
)
def test_a_redirect_to_a_refused_destination_is_refused_before_connecting(
    edge, settings, stubs, location, why
):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    stub = stubs(lambda h: send(h, 302, headers={"Location": location}))
    with pytest.raises(OutboundRefused) as refused:
        fetch("GET", f"{stub.url}/start")
    assert refused.value.message.startswith("redirect refused: ")
    assert why in refused.value.message
    assert edge.connects == [("127.0.0.1", stub.port)]  # the stub, and nothing after it


def test_a_redirect_to_a_name_that_resolves_to_metadata_is_refused_before_connecting(
    edge, settings, stubs
):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    edge.answer("metadata.test", "169.254.169.254")
    stub = stubs(lambda h: send(h, 307, headers={"Location": "http://metadata.test/creds"}))
    with pytest.raises(OutboundRefused, match="cloud metadata"):
        fetch("GET", f"{stub.url}/start")
    assert edge.lookups == ["metadata.test"]
    assert edge.connects == [("127.0.0.1", stub.port)]


def test_redirects_are_followed_and_bounded(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL

    def hops(handler):
        if handler.path == "/done":
            ok(handler, b"arrived")
        else:
            step = int(handler.path.strip("/") or 0)
            target = "/done" if step >= 2 else f"/{step + 1}"
            send(handler, 302, headers={"Location": target})

    stub = stubs(hops)
    response = fetch("GET", f"{stub.url}/0", max_redirects=3)
    assert (response.status, response.body, response.redirects) == (200, b"arrived", 3)
    assert response.url == f"{stub.url}/done"

    loop = stubs(lambda h: send(h, 301, headers={"Location": "/again"}))
    with pytest.raises(OutboundError) as failed:
        fetch("GET", f"{loop.url}/", max_redirects=2)
    assert failed.value.code == "too_many_redirects"
    assert len(loop.requests) == 3  # the first request and two redirects, then it stops


def test_credentials_stay_with_their_origin_on_a_redirect(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    other = stubs(ok)  # 127.0.0.1 on another port: another origin
    same = stubs(
        lambda h: (
            send(h, 302, headers={"Location": "/end"})
            if h.path == "/start"
            else send(h, 302, headers={"Location": f"{other.url}/elsewhere"})
            if h.path == "/end"
            else ok(h)
        )
    )
    fetch("GET", f"{same.url}/start", headers={"API-Key": "s3cr3t", "User-Agent": "mp/1"})
    assert [r[2].get("api-key") for r in same.requests] == ["s3cr3t", "s3cr3t"]
    [(_, path, headers, _)] = other.requests
    assert path == "/elsewhere" and "api-key" not in headers
    assert headers["user-agent"] == "mp/1"


def test_a_303_after_a_post_continues_as_a_get_without_the_body(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    stub = stubs(
        lambda h: send(h, 303, headers={"Location": "/result"}) if h.command == "POST" else ok(h)
    )
    response = fetch("POST", f"{stub.url}/hook", body=b'{"a": 1}', headers={"Content-Type": "x"})
    assert response.status == 200
    assert [(m, p, b) for m, p, _, b in stub.requests] == [
        ("POST", "/hook", b'{"a": 1}'),
        ("GET", "/result", b""),
    ]


# -- bounds: size and time ---------------------------------------------------------------------


def test_a_body_of_exactly_max_bytes_is_read(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    stub = stubs(lambda h: ok(h, b"x" * 1000))
    assert fetch("GET", stub.url + "/", max_bytes=1000).body == b"x" * 1000


def test_a_declared_oversized_body_is_refused_unread(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    holder: list[StubServer] = []

    def promise(handler):
        # Declares 10 MB, sends 10 bytes, then waits: only the declared size can refuse it now.
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n0123456789")
        handler.wfile.flush()
        holder[0].release.wait(10)

    stub = stubs(promise)
    holder.append(stub)
    started = time.monotonic()
    with pytest.raises(OutboundError) as failed:
        fetch("GET", stub.url + "/", max_bytes=1000, timeout_s=3)
    assert time.monotonic() - started < 1
    assert failed.value.code == "too_large"
    assert failed.value.message == "response larger than 1000 bytes"


def test_an_undeclared_oversized_body_is_cut_off_one_byte_past_the_limit(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    written = []

    def endless(handler):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            for _ in range(2000):  # 2000 chunks of 64 KiB unless the client hangs up
                handler.wfile.write(b"10000\r\n" + b"y" * 0x10000 + b"\r\n")
                written.append(1)
            handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass

    stub = stubs(endless)
    with pytest.raises(OutboundError) as failed:
        fetch("GET", stub.url + "/", max_bytes=100_000)
    assert failed.value.code == "too_large"
    time.sleep(0.2)
    assert len(written) < 100  # it stopped reading long before the end


def test_a_silent_server_times_out(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    holder: list[StubServer] = []
    stub = stubs(lambda h: holder[0].release.wait(10))
    holder.append(stub)
    started = time.monotonic()
    with pytest.raises(OutboundError) as failed:
        fetch("GET", stub.url + "/", timeout_s=0.5)
    assert time.monotonic() - started < 2
    assert failed.value.code == "timeout" and failed.value.message == "timed out after 0.5s"


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_server_is_cut_off_at_the_deadline(settings, stubs, where):
    """Each byte arrives well within a per-read timeout; the deadline bounds the whole."""
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    holder: list[StubServer] = []

    def trickle(handler):
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
        if where == "body":
            handler.wfile.write(head + b"\r\n")
        else:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        try:
            for _ in range(100):
                handler.wfile.write(b"X-Slow: y\r\n" if where == "headers" else b"z")
                handler.wfile.flush()
                if holder[0].release.wait(0.1):
                    return
        except OSError:
            pass

    stub = stubs(trickle)
    holder.append(stub)
    started = time.monotonic()
    with pytest.raises(OutboundError) as failed:
        fetch("GET", stub.url + "/", timeout_s=1)
    assert failed.value.code == "timeout"
    assert 0.9 < time.monotonic() - started < 2.5


def test_a_slow_resolver_is_bounded_by_the_deadline(edge, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    edge.resolve_delay_s = 3
    edge.answer("slow.test", "93.184.215.14")
    started = time.monotonic()
    with pytest.raises(OutboundError) as failed:
        fetch("GET", "https://slow.test/", timeout_s=0.3)
    assert time.monotonic() - started < 1
    assert failed.value.message == "timed out while resolving the host"
    assert edge.attempts == []


def test_the_timeout_is_capped(settings, stubs, monkeypatch):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    seen = []
    real = outbound._exchange

    def spy(target, method, headers, body, deadline, timeout_s, allowed, max_bytes):
        seen.append(timeout_s)
        return real(target, method, headers, body, deadline, timeout_s, allowed, max_bytes)

    stub = stubs(ok)
    monkeypatch.setattr(outbound, "_exchange", spy)
    fetch("GET", stub.url + "/", timeout_s=10_000)
    assert seen == [outbound.MAX_TIMEOUT_S]


# -- what a failure says -------------------------------------------------------------------------


def test_the_status_comes_back_with_its_standard_phrase_not_the_remote_reason(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    stub = stubs(lambda h: send(h, 500, b"stack trace: password=hunter2", reason="LEAKED text"))
    response = fetch("GET", stub.url + "/")
    assert (response.status, response.reason, response.ok) == (500, "Internal Server Error", False)
    assert response.header("Content-Length") == "29"


def test_a_garbage_answer_is_a_short_reason_of_our_own(settings, stubs):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    stub = stubs(lambda h: h.wfile.write(b"SSH-2.0-OpenSSH_9.6 secret banner\r\n"))
    with pytest.raises(OutboundError) as failed:
        fetch("GET", stub.url + "/")
    assert failed.value.message == "the remote sent an invalid HTTP response"


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_verifies_the_certificate_and_then_works(settings, stubs, tmp_path, monkeypatch):
    settings.WEBHOOK_ALLOWED_NETWORKS = LOCAL
    cert, key = _certificate(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    stub = stubs(lambda h: ok(h, b"over tls"), tls=server_tls)
    # Not trusted: refused with our own reason.
    with pytest.raises(OutboundError) as failed:
        fetch("GET", stub.url + "/", timeout_s=5)
    assert failed.value.code == "tls"
    assert failed.value.message == "TLS handshake or certificate check failed"
    # Trusted (the system store is read per request; SSL_CERT_FILE points it at our cert).
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    response = fetch("GET", stub.url + "/", timeout_s=5)
    assert (response.status, response.body) == (200, b"over tls")
