"""Share links, the page's actions (rate, message, notify, return), files and the customer
list; each one refused across tenants exactly like a missing object."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from integrations.models import Attachment, AttachmentKind, Channel, InboundMessage
from integrations.notifications.models import NotificationPreference
from portal.tracking import services, tokens
from portal.tracking.models import Rating, ReturnRequest, ThreadMessage
from shipments.models import Shipment
from tenancy.context import tenant_context
from tests.access import covers_url
from tests.portal.conftest import record

pytestmark = [pytest.mark.django_db, pytest.mark.urls("config.urls")]


def share(tenant, shipment) -> str:
    with tenant_context(tenant.pk):
        _, token = services.share_link_create(shipment=shipment)
    return token


def access_of(html: str) -> str:
    return re.search(r"/track-act/([^/]+)/", html).group(1)


@covers_url("track-share")
def test_share_link_shows_full_page_until_revoked(world):
    acme = world.personas.tenant
    token = share(acme, world.a)
    client = Client()
    response = client.get(reverse("track-share", args=[token]))
    assert response.status_code == 200 and "track-act/" in response.content.decode()
    with tenant_context(acme.pk):
        from portal.tracking.models import ShareLink

        services.share_link_revoke(link=ShareLink.objects.get())
    assert client.get(reverse("track-share", args=[token])).status_code == 404


@covers_url("track-share")
def test_share_links_die_with_revoke_all_and_sharing_off(world):
    acme = world.personas.tenant
    first = share(acme, world.a)
    with tenant_context(acme.pk):
        services.share_links_revoke_all()
    client = Client()
    assert client.get(reverse("track-share", args=[first])).status_code == 404
    second = share(acme, world.a)
    assert client.get(reverse("track-share", args=[second])).status_code == 200
    with tenant_context(acme.pk):
        services.settings_set(sharing_enabled=False)
    assert client.get(reverse("track-share", args=[second])).status_code == 404


@covers_url("track-share")
def test_forged_or_cross_tenant_share_tokens_fail(world):
    acme, rival = world.personas.tenant, world.personas.other_tenant
    token = share(acme, world.a)
    client = Client()
    assert client.get(reverse("track-share", args=[token + "x"])).status_code == 404
    # a real nonce of A signed for tenant B's id finds nothing in B
    _, nonce = tokens.share_read(token)
    forged = tokens.share_token(tenant_id=rival.pk, nonce=nonce)
    assert client.get(reverse("track-share", args=[forged])).status_code == 404


def _delivered(world) -> None:
    record(world.personas.tenant, world.a, "delivered", 1)


@covers_url("track-action", "track-share")
def test_low_rating_asks_a_follow_up_and_ops_see_it(world):
    _delivered(world)
    acme = world.personas.tenant
    client = Client()
    html = client.get(reverse("track-share", args=[share(acme, world.a)])).content.decode()
    access = access_of(html)
    url = reverse("track-action", args=[access, "rate"])
    response = client.post(url, {"stars": "1", "comment": "late and wet", "next": "/t/x/"})
    assert response.status_code == 302
    assert client.post(url, {"stars": "9"}, HTTP_ACCEPT="application/json").status_code == 400
    with tenant_context(acme.pk):
        rating = Rating.objects.get()
        assert (rating.stars, rating.comment) == (1, "late and wet")
    page = client.get(reverse("track-share", args=[share(acme, world.a)])).content.decode()
    assert "What went wrong?" in page
    client.post(url, {"stars": "1", "followup_answer": "box was open"})
    with tenant_context(acme.pk):
        assert Rating.objects.get().followup_answer == "box was open"


def test_a_low_rating_opens_one_ops_task_with_the_customers_words(world):
    from integrations.workflow.models import Task

    _delivered(world)
    with tenant_context(world.personas.tenant.pk):
        rating = services.rating_submit(shipment=world.a, stars=2, comment="meh")
        task = Task.objects.get()
        assert (task.shipment_id, task.assignee_role, task.source) == (world.a.pk, "ops", "rating")
        assert "meh" in task.note
        rating.refresh_from_db()
        assert rating.task_id == task.pk
        services.open_rating_followup(rating)  # again: the same task, not a second one
        assert Task.objects.count() == 1
    with tenant_context(world.personas.other_tenant.pk):
        assert not Task.objects.exists()


def test_a_good_rating_opens_no_task(world):
    from integrations.workflow.models import Task

    _delivered(world)
    with tenant_context(world.personas.tenant.pk):
        services.rating_submit(shipment=world.a, stars=5, comment="great")
        assert not Task.objects.exists()


@covers_url("track-action", "track-share", "track-snapshot")
def test_message_thread_notify_and_return(world):
    _delivered(world)
    acme = world.personas.tenant
    client = Client()
    access = access_of(
        client.get(reverse("track-share", args=[share(acme, world.a)])).content.decode()
    )
    json = {"HTTP_ACCEPT": "application/json"}
    act = lambda name, data: client.post(reverse("track-action", args=[access, name]), data, **json)  # noqa: E731
    assert (
        act("message", {"body": "Please leave it with the neighbour", "to": "driver"}).status_code
        == 200
    )
    assert (
        act(
            "notify", {"sms": "on", "phone": "+4915112345678", "milestones": ["delivered", "bogus"]}
        ).status_code
        == 200
    )
    returned = act("return", {"reason": "wrong size"})
    assert returned.status_code == 200 and returned.json()["return"].startswith("R")
    assert act("return", {}).status_code == 409
    with tenant_context(acme.pk):
        message = ThreadMessage.objects.get()
        assert (message.author_kind, message.addressed_to) == ("customer", "driver")
        preference = NotificationPreference.objects.get(tracking_number="ACME123456")
        assert preference.sms_enabled and preference.sms_milestones == ["delivered"]
        request = ReturnRequest.objects.get()
        assert request.return_shipment.template_version.template.shipment_type == "return"
    data = client.get(reverse("track-snapshot", args=[access])).json()
    assert data["thread"][0]["body"] == "Please leave it with the neighbour"
    assert "author_id" not in str(data) and "tenant" not in data


@covers_url("track-action", "track-page")
def test_basic_access_token_cannot_act(world):
    acme = world.personas.tenant
    basic = tokens.access_token(tokens.Access(acme.pk, world.a.public_id, full=False))
    response = Client().post(reverse("track-action", args=[basic, "message"]), {"body": "hi"})
    assert response.status_code == 404
    Client().get(reverse("track-page", args=[acme.slug, "ACME123456"]))


@covers_url("track-action")
def test_access_token_of_tenant_a_cannot_reach_tenant_b(world):
    rival = world.personas.other_tenant
    # a token naming B's tenant id with A's shipment id, and one naming B's shipment
    for forged in (
        tokens.access_token(tokens.Access(rival.pk, world.a.public_id, full=True)),
        tokens.access_token(tokens.Access(world.personas.tenant.pk, world.b.public_id, full=True)),
    ):
        response = Client().post(reverse("track-action", args=[forged, "message"]), {"body": "x"})
        assert response.status_code == 404
    with tenant_context(rival.pk):
        assert not ThreadMessage.objects.exists()


@covers_url("track-file")
def test_pod_files_only_for_their_shipment(world, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    acme = world.personas.tenant
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    with tenant_context(acme.pk):
        message = InboundMessage.objects.create(channel=Channel.SCAN, body=b"{}", sha256="0")
        photo = Attachment(
            message=message, kind=AttachmentKind.PHOTO, content_type="image/png", sha256="x"
        )
        photo.file.save("p.png", ContentFile(png), save=False)
        photo.save()
        other = Attachment(
            message=message, kind=AttachmentKind.DOCUMENT, content_type="image/png", sha256="y"
        )
        other.file.save("d.png", ContentFile(png), save=False)
        other.save()
    record(
        acme,
        world.a,
        "delivered",
        1,
        inbound_message_id=message.pk,
        details={"extra": {"attachments": [{"id": photo.pk, "kind": "photo"}]}},
    )
    full = tokens.access_token(tokens.Access(acme.pk, world.a.public_id, full=True))
    client = Client()
    response = client.get(reverse("track-file", args=[full, photo.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content) == png
    # an unshared document of the same message, the basic level, another shipment: 404 alike
    assert client.get(reverse("track-file", args=[full, other.pk])).status_code == 404
    basic = tokens.access_token(tokens.Access(acme.pk, world.a.public_id, full=False))
    assert client.get(reverse("track-file", args=[basic, photo.pk])).status_code == 404
    elsewhere = tokens.access_token(tokens.Access(acme.pk, world.a_other.public_id, full=True))
    assert client.get(reverse("track-file", args=[elsewhere, photo.pk])).status_code == 404
    rival = tokens.access_token(
        tokens.Access(world.personas.other_tenant.pk, world.a.public_id, full=True)
    )
    assert client.get(reverse("track-file", args=[rival, photo.pk])).status_code == 404


@covers_url("track-mine")
def test_customer_user_sees_only_own_accounts_shipments(world):
    personas = world.personas
    client = personas.client("customer")
    html = client.get(reverse("track-mine")).content.decode()
    assert "ACME123456" in html and "ACME999999" not in html and "RIVAL55555" not in html
    assert "ACME123456" in client.get(reverse("track-mine") + "?q=1234").content.decode()
    assert (
        "ACME123456" not in client.get(reverse("track-mine") + "?status=delivered").content.decode()
    )
    # other roles and other tenants' admins get nothing here
    assert personas.client("ops").get(reverse("track-mine")).status_code == 404
    assert personas.client("outsider").get(reverse("track-mine")).status_code == 404
    assert Client().get(reverse("track-mine")).status_code == 302


@covers_url("track-page")
def test_logged_in_customer_gets_full_page_of_own_shipment_only(world):
    personas = world.personas
    client = personas.client("customer")
    slug = personas.tenant.slug
    assert (
        "track-act/"
        in client.get(reverse("track-page", args=[slug, "ACME123456"])).content.decode()
    )
    record(personas.tenant, world.a_other, "picked_up", 5)
    other = client.get(reverse("track-page", args=[slug, "ACME999999"])).content.decode()
    assert "track-act/" not in other  # another customer's: basic status only, like anyone


def test_nothing_internal_reaches_the_page(world):
    acme = world.personas.tenant
    with tenant_context(acme.pk):
        Shipment.objects.filter(pk=world.a.pk).update(
            carrier="SECRET-CARRIER", service="COST-CENTRE-42"
        )
    record(
        acme, world.a, "delivered", 1, reason="internal: driver fined", location="Depot 7 secret"
    )
    html = Client().get(reverse("track-share", args=[share(acme, world.a)])).content.decode()
    for leak in (
        "SECRET-CARRIER",
        "COST-CENTRE-42",
        "driver fined",
        "Depot 7",
        world.a_other.public_id,
        "integration",
        "source",
    ):
        assert leak not in html, leak


@covers_url("shipment-thread", "rating-list")
def test_ops_and_driver_read_and_answer_the_thread_and_see_ratings(world):
    personas = world.personas
    acme = personas.tenant
    _delivered(world)
    with tenant_context(acme.pk):
        services.message_post(shipment=world.a, author_kind="customer", body="Where is it?")
        services.rating_submit(shipment=world.a, stars=5, comment="great")
    url = reverse("shipment-thread", args=[world.a.public_id])
    ops = personas.client("ops")
    assert [m["body"] for m in ops.get(url).json()["results"]] == ["Where is it?"]
    assert ops.post(url, {"body": "On its way"}, content_type="application/json").status_code == 201
    driver = personas.client("driver")
    assert (
        driver.post(url, {"body": "At the door"}, content_type="application/json").status_code
        == 201
    )
    authors = [m["author"] for m in driver.get(url).json()["results"]]
    assert authors == ["customer", "support", "driver"]
    assert ops.get(reverse("rating-list")).json()["results"][0]["stars"] == 5
    # customers, other tenants: the same 404/403 as for anything not theirs
    assert personas.client("customer").get(url).status_code == 403
    assert personas.client("outsider").get(url).status_code == 404
    rival_url = reverse("shipment-thread", args=[world.b.public_id])
    assert ops.get(rival_url).status_code == 404
    assert personas.client("outsider").get(reverse("rating-list")).json()["results"] == []
    assert personas.client("driver").get(reverse("rating-list")).status_code == 403


@covers_url("track-action", "track-share")
def test_share_button_makes_a_link_and_only_own_links_are_shown(world):
    acme = world.personas.tenant
    client = Client()
    page_url = reverse("track-share", args=[share(acme, world.a)])
    access = access_of(client.get(page_url).content.decode())
    response = client.post(reverse("track-action", args=[access, "share"]), {"next": page_url})
    assert response.status_code == 302
    shown = client.get(response["Location"]).content.decode()
    link = re.search(r'id="share-url" type="text" readonly value="([^"]+)"', shown).group(1)
    assert link.startswith("http://testserver/t/")
    assert client.get(link.replace("http://testserver", "")).status_code == 200
    evil = client.get(page_url + "?done=share&share_url=https://evil.example/t/x").content.decode()
    assert 'id="share-url"' not in evil  # a foreign "share link" is never offered
