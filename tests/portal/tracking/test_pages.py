"""Public tracking pages: lookup levels, branding, no oracle, rate limit, custom domain."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from django.test import Client
from django.urls import reverse

from portal.tracking import middleware
from tenancy.context import tenant_context
from tests.access import covers_url

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]


def page(client: Client, slug: str, number: str):
    return client.get(reverse("track-page", args=[slug, number]))


def _strip_tokens(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


@covers_url("track-form", "track-page")
def test_basic_status_with_tracking_number_only(world):
    tenant = world.personas.tenant
    client = Client()
    assert client.get(reverse("track-form", args=[tenant.slug])).status_code == 200
    response = page(client, tenant.slug, "ACME123456")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Out for delivery" in html
    assert "Picked up" in html
    assert tenant.primary_colour in html and "Acme Forwarding" in html
    # basic level: no POD, no messages, no actions
    assert "track-act/" not in html
    assert "Erika" not in html and "Hauptstraße" not in html


@covers_url("track-form", "track-page")
def test_postcode_unlocks_full_page_and_wrong_one_does_not(world):
    tenant = world.personas.tenant
    client = Client()
    wrong = client.post(
        reverse("track-form", args=[tenant.slug]),
        {"tracking_number": "ACME123456", "secret": "99999"},
    )
    assert wrong.status_code == 302
    assert "track-act/" not in page(client, tenant.slug, "ACME123456").content.decode()
    client.post(
        reverse("track-form", args=[tenant.slug]),
        {"tracking_number": "ACME123456", "secret": "20095"},
    )
    html = page(client, tenant.slug, "ACME123456").content.decode()
    assert "track-act/" in html  # messages, notifications are offered


@covers_url("track-page", "track-form")
def test_foreign_and_unknown_numbers_look_the_same(world):
    acme = world.personas.tenant
    client = Client()
    foreign = page(client, acme.slug, "RIVAL55555")  # tenant B's real number
    nonsense = page(client, acme.slug, "NONSENSE00")
    assert foreign.status_code == nonsense.status_code == 404
    assert _strip_tokens(foreign.content.decode()).replace("RIVAL55555", "X") == _strip_tokens(
        nonsense.content.decode()
    ).replace("NONSENSE00", "X")
    # the form answers alike too
    posted = [
        client.post(
            reverse("track-form", args=[acme.slug]), {"tracking_number": n, "secret": "20095"}
        )
        for n in ("RIVAL55555", "NONSENSE00")
    ]
    assert {p.status_code for p in posted} == {404}


def test_no_timing_oracle(world, settings):
    settings.TRACKING_LOOKUPS_PER_MINUTE = 10_000
    acme = world.personas.tenant
    client = Client()

    def once(number: str) -> float:
        started = time.perf_counter()
        page(client, acme.slug, number)
        return (time.perf_counter() - started) * 1000

    once("NONSENSE00")  # warm up
    # interleaved, so a load change on the machine hits both alike
    foreign, unknown = [], []
    for _ in range(20):
        foreign.append(once("RIVAL55555"))
        unknown.append(once("NONSENSE00"))
    a, b = statistics.median(foreign), statistics.median(unknown)
    assert abs(a - b) < max(5.0, 0.25 * b), (a, b)


def test_lookups_are_rate_limited_per_client_address(world, settings):
    settings.TRACKING_LOOKUPS_PER_MINUTE = 5
    acme = world.personas.tenant
    one, two = Client(REMOTE_ADDR="203.0.113.1"), Client(REMOTE_ADDR="203.0.113.2")
    codes = [page(one, acme.slug, "NONSENSE00").status_code for _ in range(7)]
    assert codes[:5] == [404] * 5 and codes[5:] == [429, 429]
    limited = page(one, acme.slug, "ACME123456")
    assert limited.status_code == 429 and "Out for delivery" not in limited.content.decode()
    assert page(two, acme.slug, "ACME123456").status_code == 200


def test_german_and_tenant_locale(world):
    acme = world.personas.tenant
    client = Client()
    html = client.get(
        reverse("track-page", args=[acme.slug, "ACME123456"]) + "?lang=de"
    ).content.decode()
    assert "In Zustellung" in html and 'lang="de"' in html
    acme.locale = "de"
    acme.save()
    assert "In Zustellung" in page(client, acme.slug, "ACME123456").content.decode()


def test_only_customer_visible_milestones(world):
    acme = world.personas.tenant
    from milestones.models import MilestoneDefinition

    with tenant_context(acme.pk):
        MilestoneDefinition.objects.filter(
            version_id=world.a.template_version_id, code="picked_up"
        ).update(customer_visible=False)
    from shipments import selectors as shipment_selectors

    shipment_selectors._DEFINITIONS.clear()
    html = page(Client(), acme.slug, "ACME123456").content.decode()
    assert "Picked up" not in html and "Out for delivery" in html


@covers_url("track-domain-form", "track-domain-page")
def test_custom_domain_serves_the_portal_at_the_root(world, settings):
    acme = world.personas.tenant
    acme.custom_domains = ["track.acme.test"]
    acme.save()
    middleware.forget()
    settings.ALLOWED_HOSTS = ["track.acme.test", "testserver"]
    client = Client(HTTP_HOST="track.acme.test")
    form = client.get("/")
    assert form.status_code == 200 and "Acme Forwarding" in form.content.decode()
    assert client.get("/ACME123456/").status_code == 200
    assert client.get("/RIVAL55555/").status_code == 404  # tenant B's number on A's domain
    middleware.forget()


def test_unknown_tenant_slug_is_404(world):
    assert page(Client(), "no-such-tenant", "ACME123456").status_code == 404


@covers_url("track-page", "track-share")
def test_page_budget(world, settings):
    """README "Customer portal": HTML ≤ 60 KB uncompressed (the page has no other requests
    but the logo, the POD images and its websocket), server time ≤ 150 ms (median of 10),
    for the basic page and the full one (share link)."""
    from portal.tracking import services

    settings.TRACKING_LOOKUPS_PER_MINUTE = 10_000
    acme = world.personas.tenant
    with tenant_context(acme.pk):
        _, token = services.share_link_create(shipment=world.a)
    client = Client()
    for url in (
        reverse("track-page", args=[acme.slug, "ACME123456"]),
        reverse("track-share", args=[token]),
    ):
        client.get(url)
        times = []
        for _ in range(10):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        print(
            f"{url[:12]}: {len(response.content)} bytes, median {statistics.median(times):.1f} ms"
        )
        assert len(response.content) <= 60 * 1024, len(response.content)
        assert statistics.median(times) <= 150, times


@covers_url("track-logo", "track-page")
def test_logo_is_served_and_shown(world, settings, tmp_path):
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = str(tmp_path)
    acme = world.personas.tenant
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    acme.logo.save("acme.svg", ContentFile(svg))
    client = Client()
    assert (
        f'src="/track-logo/{acme.slug}/"' in page(client, acme.slug, "ACME123456").content.decode()
    )
    logo = client.get(reverse("track-logo", args=[acme.slug]))
    assert logo.status_code == 200 and b"".join(logo.streaming_content) == svg
    rival = world.personas.other_tenant
    assert client.get(reverse("track-logo", args=[rival.slug])).status_code == 404  # none set
