"""The API's conventions on every TenantAPIView: Idempotency-Key (Stripe's semantics, proven
with real threads against the live server), ETag / If-None-Match, rate limits per key."""

from __future__ import annotations

import http.client
import json
import threading
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.test import override_settings
from django.utils import timezone

from shipments.models import Shipment
from tenancy.api import ratelimit
from tenancy.context import tenant_context
from tenancy.models import IdempotencyKey
from tests.shipments.api_fixtures import Api, make_api, new_shipment
from tests.shipments.api_fixtures import api as api


def _post(client, body, key, path="/api/v1/shipments/"):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_a_retry_gets_the_first_answer_byte_for_byte_and_creates_nothing(api: Api):
    client = api.client("full")
    first = _post(client, new_shipment("IDEM1"), "key-1")
    again = _post(client, new_shipment("IDEM1"), "key-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    with tenant_context(api.personas.tenant.pk):
        assert Shipment.objects.filter(references__value="IDEM1").count() == 1


@pytest.mark.django_db
def test_json_bodies_compare_as_data_not_as_spelling(api: Api):
    client = api.client("full")
    first = _post(client, new_shipment("IDEM2"), "key-2")
    reordered = dict(reversed(list(new_shipment("IDEM2").items())))
    assert _post(client, reordered, "key-2").content == first.content


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(api: Api):
    client = api.client("full")
    assert _post(client, new_shipment("IDEM3"), "key-3").status_code == 201
    response = _post(client, new_shipment("IDEM4"), "key-3")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    # The same key on another endpoint is another request too.
    cancel = _post(client, {}, "key-3", path=f"/api/v1/shipments/{api.mine.public_id}/cancel/")
    assert cancel.status_code == 422


@pytest.mark.django_db
def test_keys_are_per_caller_and_expire_after_24_hours(api: Api):
    full, limited = api.client("full"), api.client("limited")
    assert _post(full, new_shipment("IDEM5"), "shared").status_code == 201
    # Another key with the same Idempotency-Key runs its own request.
    mine = _post(limited, new_shipment("IDEM6", customer="SHIPPER1"), "shared")
    assert mine.status_code == 201 and "Idempotent-Replayed" not in mine
    with tenant_context(api.personas.tenant.pk):
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    # Expired: the key is free again (the request runs: its reference is taken now).
    expired = _post(full, new_shipment("IDEM5"), "shared")
    assert expired.status_code == 400 and "Idempotent-Replayed" not in expired


@pytest.mark.django_db
def test_errors_are_kept_too_but_not_server_errors(api: Api):
    client = api.client("full")
    bad = _post(client, new_shipment("IDEM7") | {"mode": "teleport"}, "key-7")
    assert bad.status_code == 400
    assert (
        _post(client, new_shipment("IDEM7") | {"mode": "teleport"}, "key-7").content == bad.content
    )
    assert not idempotency_keeps_5xx()


def idempotency_keeps_5xx() -> bool:
    from tenancy.api.idempotency import keeps

    return keeps(500) or keeps(503) or keeps(429)


@pytest.mark.django_db
def test_an_unusable_key_is_400(api: Api):
    response = _post(api.client("full"), new_shipment("IDEM8"), "x" * 256)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_identical_posts_create_one_object_and_ten_identical_answers(live_server):
    api = make_api()
    target = urlparse(live_server.url)
    body = json.dumps(new_shipment("RACE1")).encode()
    barrier = threading.Barrier(10)
    answers: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def send() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        barrier.wait()
        conn.request(
            "POST",
            "/api/v1/shipments/",
            body=body,
            headers={
                "Authorization": f"Bearer {api.keys['full']}",
                "Content-Type": "application/json",
                "Idempotency-Key": "race-1",
            },
        )
        response = conn.getresponse()
        with lock:
            answers.append((response.status, response.read()))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert len(answers) == 10
    assert {status for status, _ in answers} == {201}
    assert len({content for _, content in answers}) == 1
    with tenant_context(api.personas.tenant.pk):
        assert Shipment.objects.filter(references__value="RACE1").count() == 1
        assert IdempotencyKey.objects.filter(key="race-1").count() == 1


# --- ETag -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reads_carry_an_etag_and_answer_304_while_nothing_changed(api: Api):
    client = api.client("full")
    path = f"/api/v1/shipments/{api.mine.public_id}/"
    first = client.get(path)
    etag = first["ETag"]
    assert etag.startswith('"') and first.status_code == 200
    unchanged = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged["ETag"] == etag
    assert client.get(path, HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    client.patch(path, {"carrier": "Changed"}, format="json")
    changed = client.get(path, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    # The timeline and the lists are tagged too.
    timeline = client.get(f"{path}timeline/")
    assert client.get(f"{path}timeline/", HTTP_IF_NONE_MATCH=timeline["ETag"]).status_code == 304
    listed = client.get("/api/v1/shipments/")
    assert client.get("/api/v1/shipments/", HTTP_IF_NONE_MATCH=listed["ETag"]).status_code == 304


@pytest.mark.django_db
def test_the_same_answer_has_another_tag_for_another_caller(api: Api):
    path = f"/api/v1/shipments/{api.mine.public_id}/"
    full = api.client("full").get(path)
    limited = api.client("limited").get(path)
    assert full.content == limited.content
    assert full["ETag"] != limited["ETag"]


# --- rate limits ------------------------------------------------------------------------------

DEFAULTS = {
    "API_RATE_LIMIT_BURST": ratelimit.DEFAULT_BURST,
    "API_RATE_LIMIT_PER_SECOND": ratelimit.DEFAULT_PER_SECOND,
}


@pytest.mark.django_db
# The default burst, refilled slowly: at the default 20/s a loaded machine that answers a
# request every 50 ms or slower would refill as fast as the test drains the bucket.
@override_settings(**{**DEFAULTS, "API_RATE_LIMIT_PER_SECOND": 0.01})
def test_the_default_allows_a_burst_of_50_then_429_with_retry_after(api: Api):
    client = api.client("read")
    path = f"/api/v1/shipments/{api.mine.public_id}/"
    answers = []
    for _ in range(1000):  # bounded: the bucket empties well before
        answers.append(client.get(path))
        if answers[-1].status_code == 429:
            break
    statuses = [a.status_code for a in answers]
    assert statuses[-1] == 429
    assert set(statuses[:-1]) == {200}
    assert len(statuses) > ratelimit.DEFAULT_BURST >= 50  # the contract: bursts of at least 50
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused["Retry-After"]) >= 1
    assert refused["RateLimit-Remaining"] == "0"
    assert refused.json()["error"]["code"] == "rate_limited"
    assert answers[0]["RateLimit-Limit"] == str(ratelimit.DEFAULT_BURST)
    assert int(answers[0]["RateLimit-Remaining"]) == ratelimit.DEFAULT_BURST - 1
    assert int(answers[1]["RateLimit-Remaining"]) < int(answers[0]["RateLimit-Remaining"])
    # Per key: another key of the same tenant is not limited by this one's traffic.
    other = api.client("full").get(path)
    assert other.status_code == 200
    assert int(other["RateLimit-Remaining"]) == ratelimit.DEFAULT_BURST - 1


@pytest.mark.django_db
@override_settings(API_RATE_LIMIT_BURST=3, API_RATE_LIMIT_PER_SECOND=0.5)
def test_every_answer_carries_the_headers_errors_included(api: Api):
    client = api.client("read")
    missing = client.get("/api/v1/shipments/shp_0000000000000000/")
    forbidden = client.post("/api/v1/shipments/", new_shipment(), format="json")
    assert missing.status_code == 404 and forbidden.status_code == 403
    for answer in (missing, forbidden):
        assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(answer.headers)
    client.get("/api/v1/shipments/")
    refused = client.get("/api/v1/shipments/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 2  # one request every 2 s


@pytest.mark.django_db(transaction=True)
@override_settings(API_RATE_LIMIT_BURST=20, API_RATE_LIMIT_PER_SECOND=0.01)
def test_concurrent_requests_never_take_more_than_the_burst(live_server):
    api = make_api()
    target = urlparse(live_server.url)
    statuses: list[int] = []
    lock = threading.Lock()

    def send() -> None:
        for _ in range(4):
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            conn.request(
                "GET", "/api/v1/me/", headers={"Authorization": f"Bearer {api.keys['read']}"}
            )
            response = conn.getresponse()
            response.read()
            with lock:
                statuses.append(response.status)

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(statuses) == 40
    assert statuses.count(200) == 20  # atomic: not one more than the burst
    assert statuses.count(429) == 20


@pytest.mark.django_db
def test_without_redis_requests_go_through(api: Api, settings):
    settings.API_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:9/0"
    ratelimit._client.cache_clear()
    ratelimit._script.cache_clear()
    response = api.client("read").get(f"/api/v1/shipments/{api.mine.public_id}/")
    assert response.status_code == 200
    assert "RateLimit-Limit" not in response
