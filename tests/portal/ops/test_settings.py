"""The settings editors under /ops/settings/…: who may open and change each, other tenants'
objects answer 404, the owning services' validation errors are shown next to the field or
milestone row at fault, and a template's versions can be compared."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations.notifications.models import NotificationPreference, NotificationTemplate
from integrations.subscriptions.models import Delivery, Subscription
from integrations.workflow.models import Rule
from integrations.workflow.services import rule_save
from milestones.models import MilestoneTemplate, TemplateVersion
from portal.ops.forms_settings import MilestoneRowForm
from portal.ops.views_settings import REFUSED
from portal.tracking.models import PortalSettings
from tenancy.context import tenant_context
from tenancy.models import AuditLog, Membership, Role, Tenant, User
from tests.access import covers_url

READ_PAGES_STAFF = [
    "ops-settings-templates",
    "ops-settings-rules",
    "ops-settings-notifications",
    "ops-settings-webhooks",
]
ADMIN_PAGES = ["ops-settings-users", "ops-settings-branding", "ops-settings-rule-new"]


def _template(tenant: Tenant, mode: str = "road_ftl") -> MilestoneTemplate:
    with tenant_context(tenant.pk):
        return MilestoneTemplate.objects.get(mode=mode)


def _invalid_field(body: str | object, label: str) -> str:
    """The HTML of the form field labelled ``label`` if it is marked invalid, else ""."""
    text = body if isinstance(body, str) else body.content.decode()  # type: ignore[attr-defined]
    match = re.search(rf'<label class="field invalid">{re.escape(label)}.*?</label>', text, re.S)
    return match.group(0) if match else ""


def _row_html(body: str, index: int) -> str:
    match = re.search(rf'<tr class="[^"]*" data-row="{index}">(.*?)</tr>', body, re.S)
    assert match, f"row {index} not found"
    return match.group(0)


def _draft(template: MilestoneTemplate, **override) -> dict[str, str]:
    """The editor's POST data for the template's current version, rows changed by code."""
    with tenant_context(template.tenant_id):
        version = template.versions.order_by("-number").first()
        rows = [MilestoneRowForm.initial_for(d) for d in version.definitions.all()]
    data = {
        "m-TOTAL_FORMS": str(len(rows)),
        "m-INITIAL_FORMS": str(len(rows)),
        "m-MIN_NUM_FORMS": "0",
        "m-MAX_NUM_FORMS": "60",
        "note": "tuned",
    }
    for i, row in enumerate(rows):
        row.update(override.get(row["code"], {}))
        for key, value in row.items():
            if isinstance(value, bool):
                if value:
                    data[f"m-{i}-{key}"] = "on"
            elif value is not None:
                data[f"m-{i}-{key}"] = str(value)
    return data


@covers_url(*READ_PAGES_STAFF, *ADMIN_PAGES)
def test_settings_pages_by_role(board):
    personas = board.personas
    for name in READ_PAGES_STAFF + ADMIN_PAGES:
        url = reverse(name)
        assert personas.client("admin").get(url).status_code == 200, name
        expected = 200 if name in READ_PAGES_STAFF else 404
        assert personas.client("member").get(url).status_code == expected, name
        for who in ("sales", "finance", "customer", "driver"):
            assert personas.client(who).get(url).status_code == 404, (name, who)
        assert personas.client("anonymous").get(url).status_code == 302, name


@covers_url(
    "ops-settings-template",
    "ops-settings-template-edit",
    "ops-settings-template-diff",
    "ops-settings-templates",
)
def test_template_edit_check_publish_and_diff(board):
    personas = board.personas
    template = _template(personas.tenant)
    admin = personas.client("admin")
    page = admin.get(reverse("ops-settings-template-edit", args=[template.pk]))
    assert page.status_code == 200
    assert 'name="m-0-code"' in page.content.decode()

    with tenant_context(personas.tenant.pk):
        before = template.versions.get().definitions.get(code="delivered").tolerance
    assert before != timedelta(hours=7, minutes=30)
    data = _draft(template, delivered={"tolerance_hours": "7:30", "label_en": "Handed over"})
    data["action"] = "check"
    checked = admin.post(reverse("ops-settings-template-edit", args=[template.pk]), data)
    body = checked.content.decode()
    assert checked.status_code == 200
    assert "Handed over" in body and 'data-testid="diff"' in body
    assert "<ins>7:30:00</ins>" in body  # the new tolerance of delivered, shown in the diff
    with tenant_context(personas.tenant.pk):
        assert template.versions.count() == 1  # checking saves nothing

    data["action"] = "publish"
    published = admin.post(reverse("ops-settings-template-edit", args=[template.pk]), data)
    assert published.status_code == 302
    assert published["Location"].endswith("?from=1&to=2")
    with tenant_context(personas.tenant.pk):
        v2 = template.versions.get(number=2)
        delivered = v2.definitions.get(code="delivered")
        assert delivered.tolerance == timedelta(hours=7, minutes=30)
        assert delivered.labels["en"] == "Handed over"
        assert delivered.labels["de"]  # the other locales' labels are kept
        assert v2.note == "tuned"
        assert AuditLog.objects.filter(action="template.revise", target_id=str(template.pk))
    diff = admin.get(published["Location"]).content.decode()
    assert "v1 → v2" in diff
    assert re.search(
        rf"<code>delivered</code>.*?tolerance.*?<del>{before}</del>.*?<ins>7:30:00</ins>",
        diff,
        re.S,
    )
    # an untouched draft differs in nothing: the editor round-trips every value exactly
    same = _draft(template)
    same["action"] = "check"
    unchanged = admin.post(reverse("ops-settings-template-edit", args=[template.pk]), same)
    assert "badge warn" not in unchanged.content.decode()
    assert "unchanged" in diff  # the other milestones are listed as unchanged
    listing = admin.get(reverse("ops-settings-templates")).content.decode()
    assert template.name in listing and "v2 ·" in listing
    detail = admin.get(reverse("ops-settings-template", args=[template.pk]) + "?v=1")
    assert detail.status_code == 200 and "v2" in detail.content.decode()
    # ops reads templates and diffs, but cannot edit them
    member = personas.client("member")
    assert member.get(published["Location"]).status_code == 200
    assert member.get(reverse("ops-settings-template-edit", args=[template.pk])).status_code == 404
    assert (
        member.post(reverse("ops-settings-template-edit", args=[template.pk]), data).status_code
        == 404
    )
    with tenant_context(personas.tenant.pk):
        assert template.versions.count() == 2


@covers_url("ops-settings-template-edit")
def test_template_errors_are_shown_on_the_row_at_fault(board):
    personas = board.personas
    template = _template(personas.tenant)
    admin = personas.client("admin")
    url = reverse("ops-settings-template-edit", args=[template.pk])

    data = _draft(template, delivered={"planned_anchor": "teleported", "planned_offset_hours": "2"})
    data["action"] = "publish"
    response = admin.post(url, data)
    assert response.status_code == REFUSED
    body = response.content.decode()
    codes = re.findall(r'name="m-(\d+)-code"[^>]*value="([^"]+)"', body)
    index = next(int(i) for i, code in codes if code == "delivered")
    row = _row_html(body, index)
    assert "refers to unknown milestone &#x27;teleported&#x27;" in row
    assert 'class="invalid"' in row
    other = _row_html(body, (index + 1) % len(codes))
    assert "field-errors" not in other
    # the typed draft is kept in the form, not replaced by the saved version
    assert 'value="teleported"' in row

    duplicate = _draft(template, picked_up={"code": "delivered"})
    duplicate["action"] = "check"
    body = admin.post(url, duplicate).content.decode()
    assert "duplicate milestone code &#x27;delivered&#x27;" in body
    negative = _draft(template, delivered={"tolerance_hours": "-1"})
    negative["action"] = "check"
    body = admin.post(url, negative).content.decode()
    assert "tolerance of &#x27;delivered&#x27; is negative" in body
    with tenant_context(personas.tenant.pk):
        assert template.versions.count() == 1


@covers_url(
    "ops-settings-template",
    "ops-settings-template-edit",
    "ops-settings-template-diff",
)
def test_another_tenants_template_is_404(board):
    personas = board.personas
    theirs = _template(personas.other_tenant)
    admin = personas.client("admin")
    for name in (
        "ops-settings-template",
        "ops-settings-template-edit",
        "ops-settings-template-diff",
    ):
        assert admin.get(reverse(name, args=[theirs.pk])).status_code == 404, name
    data = _draft(theirs)
    data["action"] = "publish"
    assert (
        admin.post(reverse("ops-settings-template-edit", args=[theirs.pk]), data).status_code == 404
    )
    with tenant_context(personas.other_tenant.pk):
        assert TemplateVersion.objects.filter(template=theirs).count() == 1
    assert "Rival" not in admin.get(reverse("ops-settings-templates")).content.decode()


def _rule(tenant: Tenant, name: str = "tag late") -> Rule:
    with tenant_context(tenant.pk):
        return rule_save(
            name=name,
            trigger="status_becomes",
            when={"status": "delivered"},
            actions=[{"type": "set_tag", "config": {"tag": "done"}}],
        )


@covers_url(
    "ops-settings-rules",
    "ops-settings-rule-new",
    "ops-settings-rule",
    "ops-settings-rule-toggle",
    "ops-settings-rule-delete",
)
def test_rules_create_edit_toggle_delete_with_errors_in_place(board):
    personas = board.personas
    admin = personas.client("admin")
    bad = {
        "name": "eta watch",
        "trigger": "eta_moved_minutes",
        "is_active": "on",
        "when": '{"minutes": 0}',
        "filters": "",
        "actions": '[{"type": "set_tag", "config": {"tag": "Bad Tag"}}]',
    }
    response = admin.post(reverse("ops-settings-rule-new"), bad)
    assert response.status_code == REFUSED
    body = response.content.decode()
    when_field = _invalid_field(body, "When")
    assert when_field and "Whole minutes from 1 to 43200." in when_field
    bad["when"] = '{"minutes": 90}'
    body = admin.post(reverse("ops-settings-rule-new"), bad).content.decode()
    actions_field = _invalid_field(body, "Actions")
    assert actions_field and "actions[0].config.tag" in actions_field
    bad["actions"] = "[not json"
    body = admin.post(reverse("ops-settings-rule-new"), bad).content.decode()
    assert "Not valid JSON" in body
    with tenant_context(personas.tenant.pk):
        assert not Rule.objects.exists()

    bad["actions"] = '[{"type": "set_tag", "config": {"tag": "eta-moved"}}]'
    assert admin.post(reverse("ops-settings-rule-new"), bad).status_code == 302
    with tenant_context(personas.tenant.pk):
        rule = Rule.objects.get(name="eta watch")
        assert rule.when == {"minutes": 90} and rule.is_active
    assert "eta watch" in admin.get(reverse("ops-settings-rules")).content.decode()

    bad["when"] = '{"minutes": 30}'
    assert admin.post(reverse("ops-settings-rule", args=[rule.pk]), bad).status_code == 302
    assert admin.post(reverse("ops-settings-rule-toggle", args=[rule.pk])).status_code == 302
    with tenant_context(personas.tenant.pk):
        rule.refresh_from_db()
        assert rule.when == {"minutes": 30} and not rule.is_active
        assert AuditLog.objects.filter(action="rule.disabled", target_id=str(rule.pk)).exists()

    # ops reads a rule (read-only form) but cannot change, toggle or delete it
    member = personas.client("member")
    page = member.get(reverse("ops-settings-rule", args=[rule.pk])).content.decode()
    assert "<fieldset disabled>" in page and "Save rule" not in page
    assert member.post(reverse("ops-settings-rule", args=[rule.pk]), bad).status_code == 404
    assert member.post(reverse("ops-settings-rule-toggle", args=[rule.pk])).status_code == 404
    assert member.post(reverse("ops-settings-rule-delete", args=[rule.pk])).status_code == 404
    assert member.get(reverse("ops-settings-rule-new")).status_code == 404

    assert admin.post(reverse("ops-settings-rule-delete", args=[rule.pk])).status_code == 302
    with tenant_context(personas.tenant.pk):
        assert not Rule.objects.filter(pk=rule.pk).exists()
        assert AuditLog.objects.filter(action="rule.deleted", target_id=str(rule.pk)).exists()


@covers_url("ops-settings-rule", "ops-settings-rule-toggle", "ops-settings-rule-delete")
def test_another_tenants_rule_is_404(board):
    personas = board.personas
    theirs = _rule(personas.other_tenant, name="rival rule")
    admin = personas.client("admin")
    assert admin.get(reverse("ops-settings-rule", args=[theirs.pk])).status_code == 404
    assert admin.post(reverse("ops-settings-rule-toggle", args=[theirs.pk])).status_code == 404
    assert admin.post(reverse("ops-settings-rule-delete", args=[theirs.pk])).status_code == 404
    with tenant_context(personas.other_tenant.pk):
        assert Rule.objects.get(pk=theirs.pk).is_active
    assert "rival rule" not in admin.get(reverse("ops-settings-rules")).content.decode()


@covers_url(
    "ops-settings-notifications",
    "ops-settings-notification-template",
    "ops-settings-notification-template-delete",
    "ops-settings-preference",
)
def test_notification_templates_and_preferences(board):
    personas = board.personas
    admin = personas.client("admin")
    form = {
        "topic": "delivered",
        "channel": "email",
        "locale": "de",
        "subject": "Zugestellt: {{ tracking_number }}",
        "body": "Hallo {{ nobody_knows }}",
    }
    response = admin.post(reverse("ops-settings-notification-template"), form)
    assert response.status_code == REFUSED
    body_field = _invalid_field(response.content.decode(), "Body")
    assert body_field and "nobody_knows" in body_field
    form["body"] = "Ihre Sendung {{ tracking_number }} ist da."
    assert admin.post(reverse("ops-settings-notification-template"), form).status_code == 302
    with tenant_context(personas.tenant.pk):
        saved = NotificationTemplate.objects.get(topic="delivered", locale="de")
    page = admin.get(reverse("ops-settings-notifications") + f"?template={saved.pk}")
    assert "Ihre Sendung" in page.content.decode()

    member = personas.client("member")
    assert "Ihre Sendung" not in member.get(reverse("ops-settings-notifications")).content.decode()
    assert member.post(reverse("ops-settings-notification-template"), form).status_code == 404
    assert (
        member.post(
            reverse("ops-settings-notification-template-delete", args=[saved.pk])
        ).status_code
        == 404
    )
    outsider = personas.client("outsider")
    assert (
        outsider.post(
            reverse("ops-settings-notification-template-delete", args=[saved.pk])
        ).status_code
        == 404
    )
    assert (
        outsider.get(reverse("ops-settings-notifications") + f"?template={saved.pk}").status_code
        == 404
    )

    # preferences (STAFF, as in the API): SMS without a phone is refused at the phone field
    account = personas.customer_account
    preference = {"customer_account": str(account.pk), "sms_enabled": "on", "in_app_enabled": "on"}
    response = member.post(reverse("ops-settings-preference"), preference)
    assert response.status_code == REFUSED
    phone = _invalid_field(response.content.decode(), "Phone")
    assert phone and "SMS needs a phone number." in phone
    preference["phone"] = "+4915112345678"
    assert member.post(reverse("ops-settings-preference"), preference).status_code == 302
    with tenant_context(personas.tenant.pk):
        saved_preference = NotificationPreference.objects.get(customer_account=account)
        assert saved_preference.sms_enabled and saved_preference.phone == "+4915112345678"
    edit = member.get(reverse("ops-settings-notifications") + f"?account={account.pk}")
    assert 'value="+4915112345678"' in edit.content.decode()
    # another tenant's customer account is not a choice
    refused = personas.client("outsider").post(reverse("ops-settings-preference"), preference)
    assert "Select a valid choice" in _invalid_field(refused, "Customer account")
    with tenant_context(personas.other_tenant.pk):
        assert not NotificationPreference.objects.exists()

    assert (
        admin.post(
            reverse("ops-settings-notification-template-delete", args=[saved.pk])
        ).status_code
        == 302
    )
    with tenant_context(personas.tenant.pk):
        assert not NotificationTemplate.objects.filter(pk=saved.pk).exists()


@covers_url("ops-settings-users", "ops-settings-user")
def test_users_invite_change_role_deactivate(board):
    personas = board.personas
    admin = personas.client("admin")
    url = reverse("ops-settings-users")
    page = admin.get(url).content.decode()
    assert "sales@acme.test" in page and "admin@rival.test" not in page

    response = admin.post(url, {"email": "not-an-email", "role": "ops"})
    assert response.status_code == REFUSED
    email = _invalid_field(response.content.decode(), "Email")
    assert email and "Enter a valid email address." in email
    response = admin.post(url, {"email": "new@acme.test", "role": "customer"})
    accounts = re.search(
        r'<label class="field invalid">Customer accounts.*?</label>',
        response.content.decode(),
        re.S,
    )
    assert accounts and "customer account" in accounts.group(0)

    assert admin.post(url, {"email": "New@Acme.test", "role": "finance"}).status_code == 302
    with tenant_context(personas.tenant.pk):
        invited = Membership.objects.select_related("user").get(user__email="new@acme.test")
        assert invited.role == Role.FINANCE and invited.is_active
        assert not invited.user.has_usable_password()
    # the other tenant's admin can be added by email; their membership there is untouched
    assert admin.post(url, {"email": "admin@rival.test", "role": "sales"}).status_code == 302
    with tenant_context(personas.other_tenant.pk):
        assert Membership.objects.get(user=personas.outsider).role == Role.ADMIN

    user_url = reverse("ops-settings-user", args=[invited.pk])
    assert admin.post(user_url, {"role": "ops"}).status_code == 302  # unchecked: deactivated
    with tenant_context(personas.tenant.pk):
        invited.refresh_from_db()
        assert invited.role == Role.OPS and not invited.is_active
        assert AuditLog.objects.filter(action="member.update", target_id=str(invited.pk)).exists()
    # a deactivated member no longer gets into the dashboard
    assert personas.client(invited.user).get(reverse("ops-shipments")).status_code != 200

    # the last active admin cannot be demoted: the error is shown on that member's row
    with tenant_context(personas.tenant.pk):
        me = Membership.objects.get(user=personas.users[Role.ADMIN])
    response = admin.post(
        reverse("ops-settings-user", args=[me.pk]), {"role": "ops", "is_active": "on"}
    )
    assert response.status_code == REFUSED
    row = re.search(
        rf'action="{reverse("ops-settings-user", args=[me.pk])}".*?</form>',
        response.content.decode(),
        re.S,
    )
    assert row and "at least one active admin" in row.group(0)
    with tenant_context(personas.tenant.pk):
        me.refresh_from_db()
        assert me.role == Role.ADMIN

    # ops cannot manage users; no admin can touch another tenant's members
    assert (
        personas.client("member").post(user_url, {"role": "admin", "is_active": "on"}).status_code
        == 404
    )
    assert (
        personas.client("member").post(url, {"email": "x@acme.test", "role": "admin"}).status_code
        == 404
    )
    outsider = personas.client("outsider")
    assert outsider.post(user_url, {"role": "admin", "is_active": "on"}).status_code == 404
    with tenant_context(personas.other_tenant.pk):
        theirs = Membership.objects.get(user=personas.outsider)
    assert (
        admin.post(reverse("ops-settings-user", args=[theirs.pk]), {"role": "ops"}).status_code
        == 404
    )
    with tenant_context(personas.tenant.pk):
        invited.refresh_from_db()
        assert invited.role == Role.OPS
    assert User.objects.filter(email="x@acme.test").count() == 0


@pytest.fixture
def webhook_of_other_tenant(board):
    from integrations.subscriptions.services import subscription_create

    with tenant_context(board.personas.other_tenant.pk):
        return subscription_create(
            url="https://rival.example/hook", event_types=["shipment.created"]
        )


@covers_url(
    "ops-settings-webhooks",
    "ops-settings-webhook",
    "ops-settings-webhook-test",
    "ops-settings-webhook-rotate",
    "ops-settings-webhook-delete",
)
def test_webhooks_create_secret_once_edit_test_log_delete(board, webhook_of_other_tenant):
    personas = board.personas
    member = personas.client("member")  # webhooks are STAFF, as in the partner API
    url = reverse("ops-settings-webhooks")
    response = member.post(
        url, {"url": "http://localhost/hook", "event_types": ["shipment.created"]}
    )
    assert response.status_code == REFUSED
    field = _invalid_field(response.content.decode(), "URL")
    assert field and field.count("<li>") == 1
    response = member.post(url, {"url": "https://partner.example/hook", "is_active": "on"})
    assert "field-errors" in response.content.decode() and response.status_code == REFUSED

    created = member.post(
        url,
        {
            "url": "https://partner.example/hook",
            "description": "TMS",
            "event_types": ["shipment.created", "eta.changed"],
            "is_active": "on",
        },
    )
    assert created.status_code == 201
    with tenant_context(personas.tenant.pk):
        webhook = Subscription.objects.get(url="https://partner.example/hook")
    assert webhook.secret in created.content.decode()
    detail = reverse("ops-settings-webhook", args=[webhook.pk])
    assert webhook.secret not in member.get(detail).content.decode()  # shown once

    assert (
        member.post(
            detail,
            {
                "url": "https://partner.example/v2",
                "event_types": ["eta.changed"],
                "is_active": "on",
            },
        ).status_code
        == 302
    )
    assert member.post(reverse("ops-settings-webhook-test", args=[webhook.pk])).status_code == 302
    with tenant_context(personas.tenant.pk):
        webhook.refresh_from_db()
        assert webhook.url == "https://partner.example/v2" and webhook.event_types == [
            "eta.changed"
        ]
        assert (
            Delivery.objects.filter(subscription=webhook, event__type="webhook.test").count() == 1
        )
    log = member.get(detail).content.decode()
    assert "<code>webhook.test</code>" in log

    rotated = member.post(reverse("ops-settings-webhook-rotate", args=[webhook.pk]))
    with tenant_context(personas.tenant.pk):
        webhook.refresh_from_db()
    assert webhook.secret in rotated.content.decode()

    theirs = webhook_of_other_tenant
    for name in (
        "ops-settings-webhook",
        "ops-settings-webhook-test",
        "ops-settings-webhook-rotate",
        "ops-settings-webhook-delete",
    ):
        assert member.post(reverse(name, args=[theirs.pk])).status_code == 404, name
    assert member.get(reverse("ops-settings-webhook", args=[theirs.pk])).status_code == 404
    assert "rival.example" not in member.get(url).content.decode()
    assert personas.client("sales").get(detail).status_code == 404

    assert member.post(reverse("ops-settings-webhook-delete", args=[webhook.pk])).status_code == 302
    with tenant_context(personas.tenant.pk):
        assert not Subscription.objects.filter(pk=webhook.pk).exists()
        assert AuditLog.objects.filter(action="webhook.delete", target_id=str(webhook.pk)).exists()
    with tenant_context(personas.other_tenant.pk):
        assert Subscription.objects.filter(pk=theirs.pk).exists()


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


def _branding(**override) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Acme Forwarding",
        "locale": "de",
        "timezone": "Europe/Berlin",
        "primary_colour": "#123456",
        "accent_colour": "#abcdef",
        "support_email": "help@acme.test",
        "support_phone": "+49 40 123",
        "sharing_enabled": "on",
        "share_link_days": "14",
        "driver_position": "none",
    }
    data.update(override)
    return data


@covers_url("ops-settings-branding")
def test_branding_validation_logo_and_privacy(board, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    personas = board.personas
    admin = personas.client("admin")
    url = reverse("ops-settings-branding")

    response = admin.post(url, _branding(primary_colour="blue", timezone="Mars/Olympus"))
    assert response.status_code == REFUSED
    body = response.content.decode()
    colour = _invalid_field(body, "Primary colour")
    assert colour and "Use a hex colour like #0b5fff." in colour
    zone = _invalid_field(body, "Time zone")
    assert zone and "Unknown time zone" in zone

    svg = SimpleUploadedFile("logo.svg", b"<svg onload='alert(1)'/>", "image/svg+xml")
    response = admin.post(url, _branding(logo=svg))
    logo = _invalid_field(response.content.decode(), "Logo")
    assert logo and "PNG, JPEG or WebP" in logo
    personas.tenant.refresh_from_db()
    assert personas.tenant.primary_colour != "#123456"  # nothing of a refused form is saved

    png = SimpleUploadedFile("whatever.svg", PNG, "image/svg+xml")
    assert admin.post(url, _branding(logo=png)).status_code == 302
    personas.tenant.refresh_from_db()
    assert personas.tenant.primary_colour == "#123456"
    assert personas.tenant.timezone == "Europe/Berlin" and personas.tenant.locale == "de"
    assert personas.tenant.logo.name.endswith(".png")  # named by its content, not its upload
    with tenant_context(personas.tenant.pk):
        portal = PortalSettings.objects.get()
        assert portal.share_link_days == 14 and portal.driver_position == "none"
        assert AuditLog.objects.filter(action="tenant.branding").exists()
    logo_response = personas.client("anonymous").get(
        reverse("track-logo", args=[personas.tenant.slug])
    )
    assert b"".join(logo_response.streaming_content) == PNG

    other = Tenant.objects.get(pk=personas.other_tenant.pk)
    assert other.primary_colour != "#123456"
    assert personas.client("member").post(url, _branding()).status_code == 404


@covers_url("set_language", "ops-settings-template-edit")
def test_settings_pages_in_german(board):
    client = board.personas.client("admin")
    client.post(reverse("set_language"), {"language": "de", "next": "/ops/settings/"})
    template = _template(board.personas.tenant)
    body = client.get(reverse("ops-settings-template-edit", args=[template.pk])).content.decode()
    assert "Prüfen und Vergleich zeigen" in body
    assert "Als neue Version veröffentlichen" in body
    assert "Regeln" in body  # the settings sub-navigation
