"""The settings pages under /ops/settings/…: milestone templates (drafts checked by the engine,
published as a new version, diffs between versions), workflow rules, notification templates
and preferences, users and roles, partner webhooks with their delivery log, and branding.

Who may do what follows the roles the API already gives each thing (tenancy.models role
groups): admins change everything; ops read templates and rules and run webhooks (the
webhook API is STAFF); sales, finance, customers and drivers get the dashboard's bare 404.
Every write goes through the owning app's service, whose DomainError field errors are put
back next to the field or milestone row at fault (forms_settings.attach_error)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations import selectors as ingest_selectors
from integrations.notifications import selectors as notification_selectors
from integrations.notifications import services as notification_services
from integrations.notifications import wording
from integrations.subscriptions import selectors as subscription_selectors
from integrations.subscriptions import services as subscription_services
from integrations.workflow import selectors as workflow_selectors
from integrations.workflow import services as workflow_services
from integrations.workflow.actions import registered_actions
from milestones import engine
from milestones import selectors as milestone_selectors
from milestones import services as milestone_services
from milestones.models import MilestoneDefinition, MilestoneTemplate, TemplateVersion
from portal.ops import forms_settings as forms
from portal.ops.access import ops_view, user_of
from portal.tracking import selectors as portal_selectors
from portal.tracking import services as portal_services
from tenancy import selectors as tenancy_selectors
from tenancy import services as tenancy_services
from tenancy.errors import DomainError
from tenancy.models import ADMIN_ONLY, STAFF, Role

# Sections of the settings sub-navigation: (url name, label, roles that may open it).
SECTIONS = (
    ("ops-settings", _l("Overview and API keys"), ADMIN_ONLY),
    ("ops-settings-templates", _l("Milestone templates"), STAFF),
    ("ops-settings-rules", _l("Rules"), STAFF),
    ("ops-settings-notifications", _l("Notifications"), STAFF),
    ("ops-settings-users", _l("Users and roles"), ADMIN_ONLY),
    ("ops-settings-webhooks", _l("Webhooks"), STAFF),
    ("ops-settings-branding", _l("Branding"), ADMIN_ONLY),
)


# A refused form is answered with the page again, its errors in place, as 200 (Django's form
# convention): a 4xx document would log a console error in every browser for a typing slip.
REFUSED = 200


def is_admin(request: HttpRequest) -> bool:
    return request.membership.role == Role.ADMIN  # type: ignore[attr-defined]


def _admin_only(request: HttpRequest) -> None:
    """Reading is open to the view's roles; changing (POST) only to admins."""
    if request.method == "POST" and not is_admin(request):
        raise Http404()


def _page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200):
    role = request.membership.role  # type: ignore[attr-defined]
    context = {
        "sections": [(name, label) for name, label, roles in SECTIONS if role in roles],
        "can_admin": is_admin(request),
        **context,
    }
    return render(request, f"ops/settings/{template}", context, status=status)


# --- milestone templates ------------------------------------------------------------------------


def _template(template_id: int) -> MilestoneTemplate:
    template = milestone_selectors.template_list().filter(pk=template_id).first()
    if template is None:
        raise Http404()
    return template


def _version(template: MilestoneTemplate, number: Any) -> TemplateVersion | None:
    versions = template.versions.prefetch_related("definitions").select_related("created_by")
    if number in (None, ""):
        return versions.order_by("-number").first()
    try:
        return versions.filter(number=int(number)).first()
    except (TypeError, ValueError):
        return None


@require_GET
@ops_view(STAFF)
def templates_list(request: HttpRequest) -> HttpResponse:
    templates = list(milestone_selectors.template_list().prefetch_related("versions"))
    rows = [(t, sorted(t.versions.all(), key=lambda v: -v.number)) for t in templates]
    return _page(request, "templates.html", {"templates": rows})


@require_GET
@ops_view(STAFF)
def template_detail(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template(template_id)
    version = _version(template, request.GET.get("v"))
    if version is None:
        raise Http404()
    versions = list(template.versions.select_related("created_by").order_by("-number"))
    return _page(
        request,
        "template_detail.html",
        {
            "template": template,
            "version": version,
            "definitions": list(version.definitions.all()),
            "versions": versions,
        },
    )


def _formset_initial(version: TemplateVersion | None) -> list[dict[str, Any]]:
    if version is None:
        return []
    return [forms.MilestoneRowForm.initial_for(d) for d in version.definitions.all()]


def _draft_definitions(formset: Any) -> list[Any] | None:
    """The engine definitions of a valid formset (blank and deleted rows left out)."""
    if not formset.is_valid():
        return None
    return [
        row.to_engine()
        for row in formset.forms
        if not row.is_blank() and not row.cleaned_data.get("DELETE")
    ]


def _attach_template_error(formset: Any, error: milestone_services.TemplateInvalid) -> None:
    """Put the engine's error on the row of the milestone it names (the last row with that
    code for a duplicate, i.e. the one that repeats it), else above the table."""
    rows = [
        row
        for row in formset.forms
        if not row.is_blank()
        and not row.cleaned_data.get("DELETE")
        and (row.cleaned_data.get("code") or "").strip() == (error.milestone or "")
    ]
    field = forms.MILESTONE_ERROR_FIELDS.get(error.field or "")
    if rows and error.milestone is not None:
        row = rows[-1] if error.code == "duplicate_code" else rows[0]
        row.add_error(field, error.message)
        row.engine_error = True
    else:
        formset.template_errors = [error.message]


@require_http_methods(["GET", "POST"])
@ops_view(ADMIN_ONLY)
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    """A draft of the next version: "check" runs the engine's validation and shows the diff
    against the current version without saving; "publish" saves it as the next version
    (milestones.services.template_revise, which validates again and audits)."""
    template = _template(template_id)
    current = _version(template, None)
    status = 200
    diff = None
    if request.method == "POST":
        formset = forms.MilestoneFormSet(request.POST, prefix="m")
        note = forms.TemplateNoteForm(request.POST)
        definitions = _draft_definitions(formset)
        if definitions is not None and note.is_valid():
            try:
                engine.validate_template(definitions)
                if request.POST.get("action") == "publish":
                    version = milestone_services.template_revise(
                        template=template,
                        definitions=definitions,
                        actor=user_of(request),
                        note=note.cleaned_data["note"],
                    )
                    messages.success(
                        request,
                        _("Published version %(n)s of %(t)s.")
                        % {"n": version.number, "t": template.name},
                    )
                    if current is None:
                        return redirect("ops-settings-template", template_id=template.pk)
                    return redirect(
                        f"{_url('ops-settings-template-diff', template.pk)}"
                        f"?from={current.number}&to={version.number}"
                    )
                diff = milestone_selectors.definitions_diff(
                    current.definitions.all() if current else [],
                    [MilestoneDefinition.from_engine(d) for d in definitions],
                )
            except milestone_services.TemplateInvalid as error:
                _attach_template_error(formset, error)
                status = REFUSED
        else:
            status = REFUSED
    else:
        formset = forms.MilestoneFormSet(initial=_formset_initial(current), prefix="m")
        note = forms.TemplateNoteForm()
    return _page(
        request,
        "template_edit.html",
        {
            "template": template,
            "current": current,
            "formset": formset,
            "note_form": note,
            "diff": diff,
            "source_kinds": sorted(engine.SOURCE_KINDS),
        },
        status=status,
    )


def _url(name: str, *args: Any) -> str:
    return reverse(name, args=args)


@require_GET
@ops_view(STAFF)
def template_diff(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template(template_id)
    versions = list(template.versions.order_by("-number"))
    if not versions:
        raise Http404()
    new = _version(template, request.GET.get("to") or versions[0].number)
    default_old = versions[1].number if len(versions) > 1 else versions[0].number
    old = _version(template, request.GET.get("from") or default_old)
    if new is None or old is None:
        raise Http404()
    return _page(
        request,
        "template_diff.html",
        {
            "template": template,
            "versions": versions,
            "old": old,
            "new": new,
            "diff": milestone_selectors.template_version_diff(old=old, new=new),
        },
    )


# --- rules ----------------------------------------------------------------------------------------


def _rule(rule_id: int) -> Any:
    rule = workflow_selectors.rule_list().filter(pk=rule_id).first()
    if rule is None:
        raise Http404()
    return rule


@require_GET
@ops_view(STAFF)
def rules_list(request: HttpRequest) -> HttpResponse:
    return _page(request, "rules.html", {"rules": list(workflow_selectors.rule_list()[:500])})


def _rule_form_page(
    request: HttpRequest, form: forms.RuleForm, rule: Any, status: int = 200
) -> HttpResponse:
    return _page(
        request,
        "rule_edit.html",
        {"form": form, "rule": rule, "actions": sorted(registered_actions())},
        status=status,
    )


def _rule_save(request: HttpRequest, rule: Any) -> HttpResponse:
    form = forms.RuleForm(request.POST)
    if not form.is_valid():
        return _rule_form_page(request, form, rule, status=REFUSED)
    data = form.cleaned_data
    try:
        saved = workflow_services.rule_save(
            name=data["name"],
            trigger=data["trigger"],
            when=data["when"],
            filters=data["filters"],
            actions=data["actions"],
            is_active=data["is_active"],
            rule=rule,
            actor=user_of(request),
        )
    except DomainError as error:
        forms.attach_error(form, error, forms.RULE_ERROR_FIELDS)
        return _rule_form_page(request, form, rule, status=REFUSED)
    messages.success(request, _("Rule %(name)s saved.") % {"name": saved.name})
    return redirect("ops-settings-rules")


@require_http_methods(["GET", "POST"])
@ops_view(ADMIN_ONLY)
def rule_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _rule_save(request, None)
    return _rule_form_page(request, forms.RuleForm(initial={"actions": "[]"}), None)


@require_http_methods(["GET", "POST"])
@ops_view(STAFF)
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    _admin_only(request)
    rule = _rule(rule_id)
    if request.method == "POST":
        return _rule_save(request, rule)
    return _rule_form_page(request, forms.RuleForm(initial=forms.RuleForm.initial_for(rule)), rule)


@require_POST
@ops_view(ADMIN_ONLY)
def rule_toggle(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _rule(rule_id)
    rule = workflow_services.rule_set_active(
        rule=rule, is_active=not rule.is_active, actor=user_of(request)
    )
    messages.success(
        request,
        (_("Rule %(name)s enabled.") if rule.is_active else _("Rule %(name)s disabled."))
        % {"name": rule.name},
    )
    return redirect("ops-settings-rules")


@require_POST
@ops_view(ADMIN_ONLY)
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = _rule(rule_id)
    workflow_services.rule_delete(rule=rule, actor=user_of(request))
    messages.success(request, _("Rule %(name)s deleted.") % {"name": rule.name})
    return redirect("ops-settings-rules")


# --- notifications --------------------------------------------------------------------------------

TEMPLATE_ERROR_FIELDS = {f: f for f in ("topic", "channel", "locale", "subject", "body")}
PREFERENCE_FIELDS = (
    "email",
    "phone",
    "locale",
    "timezone",
    "email_enabled",
    "sms_enabled",
    "in_app_enabled",
    "quiet_hours_start",
    "quiet_hours_end",
)


def _accounts() -> list[tuple[int, str]]:
    return [(a.pk, f"{a.name} ({a.code})") for a in tenancy_selectors.customer_account_list()]


def _notifications_page(
    request: HttpRequest,
    *,
    template_form: forms.NotificationTemplateForm | None = None,
    preference_form: forms.PreferenceForm | None = None,
    status: int = 200,
) -> HttpResponse:
    admin = is_admin(request)
    return _page(
        request,
        "notifications.html",
        {
            "templates": list(notification_selectors.template_list()[:500]) if admin else [],
            "template_form": template_form or forms.NotificationTemplateForm(),
            "preferences": list(
                notification_selectors.preference_list().select_related("customer_account")[:500]
            ),
            "preference_form": preference_form or forms.PreferenceForm(accounts=_accounts()),
            "placeholders": sorted(wording.PLACEHOLDERS),
        },
        status=status,
    )


@require_GET
@ops_view(STAFF)
def notifications(request: HttpRequest) -> HttpResponse:
    edit = request.GET.get("template")
    template_form = None
    if edit and is_admin(request):
        found = notification_selectors.template_list().filter(pk=edit).first()
        if found is None:
            raise Http404()
        template_form = forms.NotificationTemplateForm(
            initial={
                "topic": found.topic,
                "channel": found.channel,
                "locale": found.locale,
                "subject": found.subject,
                "body": found.body,
            }
        )
    preference_form = None
    account = request.GET.get("account")
    if account:
        found_preference = (
            notification_selectors.preference_list()
            .filter(customer_account_id=int(account), tracking_number="")
            .first()
            if account.isdigit()
            else None
        )
        if found_preference is None:
            raise Http404()
        initial = {name: getattr(found_preference, name) for name in PREFERENCE_FIELDS}
        initial["customer_account"] = found_preference.customer_account_id
        initial["email_milestones"] = ", ".join(found_preference.email_milestones)
        initial["sms_milestones"] = ", ".join(found_preference.sms_milestones)
        preference_form = forms.PreferenceForm(initial=initial, accounts=_accounts())
    return _notifications_page(
        request, template_form=template_form, preference_form=preference_form
    )


@require_POST
@ops_view(ADMIN_ONLY)
def notification_template_save(request: HttpRequest) -> HttpResponse:
    form = forms.NotificationTemplateForm(request.POST)
    if form.is_valid():
        try:
            saved = notification_services.template_set(**form.cleaned_data, actor=user_of(request))
        except DomainError as error:
            forms.attach_error(form, error, TEMPLATE_ERROR_FIELDS)
        else:
            messages.success(request, _("Notification template %(t)s saved.") % {"t": saved})
            return redirect("ops-settings-notifications")
    return _notifications_page(request, template_form=form, status=REFUSED)


@require_POST
@ops_view(ADMIN_ONLY)
def notification_template_delete(request: HttpRequest, template_id: int) -> HttpResponse:
    found = notification_selectors.template_list().filter(pk=template_id).first()
    if found is None:
        raise Http404()
    notification_services.template_delete(template=found, actor=user_of(request))
    messages.success(request, _("Notification template %(t)s deleted.") % {"t": found})
    return redirect("ops-settings-notifications")


@require_POST
@ops_view(STAFF)
def preference_save(request: HttpRequest) -> HttpResponse:
    """Preferences are STAFF in the API too (integrations.notifications.api)."""
    form = forms.PreferenceForm(request.POST, accounts=_accounts())
    if form.is_valid():
        data = form.cleaned_data
        values = notification_services.PreferenceValues(
            **{name: data[name] for name in PREFERENCE_FIELDS},
            email_milestones=form.codes(data["email_milestones"]),
            sms_milestones=form.codes(data["sms_milestones"]),
        )
        try:
            notification_services.preference_set(
                values=values,
                known_milestones=ingest_selectors.known_milestones(),
                customer_account_id=data["customer_account"],
                actor=user_of(request),
            )
        except DomainError as error:
            forms.attach_error(
                form,
                error,
                {f: f for f in form.fields} | {"customer_account": "customer_account"},
            )
        else:
            messages.success(request, _("Notification preferences saved."))
            return redirect("ops-settings-notifications")
    return _notifications_page(request, preference_form=form, status=REFUSED)


# --- users and roles ------------------------------------------------------------------------------


def _users_page(
    request: HttpRequest, invite: forms.MemberInviteForm | None = None, status: int = 200
) -> HttpResponse:
    members = list(tenancy_selectors.member_list()[:1000])
    return _page(
        request,
        "users.html",
        {
            "members": members,
            "invite_form": invite or forms.MemberInviteForm(accounts=_accounts()),
            "roles": Role.choices,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@ops_view(ADMIN_ONLY)
def users(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _users_page(request)
    form = forms.MemberInviteForm(request.POST, accounts=_accounts())
    if form.is_valid():
        accounts = list(
            tenancy_selectors.customer_account_list().filter(
                pk__in=form.cleaned_data["customer_accounts"]
            )
        )
        try:
            membership = tenancy_services.member_invite(
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                customer_accounts=accounts,
                actor=user_of(request),
            )
        except DomainError as error:
            forms.attach_error(form, error, {f: f for f in form.fields})
        else:
            messages.success(
                request,
                _("%(email)s added as %(role)s.")
                % {"email": membership.user.email, "role": membership.get_role_display()},
            )
            return redirect("ops-settings-users")
    return _users_page(request, form, status=REFUSED)


@require_POST
@ops_view(ADMIN_ONLY)
def user_update(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = tenancy_selectors.member_list().filter(pk=membership_id).first()
    if membership is None:
        raise Http404()
    form = forms.MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a role."))
        return redirect("ops-settings-users")
    try:
        tenancy_services.member_update(
            membership=membership,
            role=form.cleaned_data["role"],
            is_active=form.cleaned_data["is_active"],
            actor=user_of(request),
        )
    except DomainError as error:
        # Shown on the member's own row (users.html looks the error up by membership id).
        return _page(
            request,
            "users.html",
            {
                "members": list(tenancy_selectors.member_list()[:1000]),
                "invite_form": forms.MemberInviteForm(accounts=_accounts()),
                "roles": Role.choices,
                "row_error": (membership.pk, error.message),
            },
            status=REFUSED,
        )
    messages.success(request, _("%(email)s updated.") % {"email": membership.user.email})
    return redirect("ops-settings-users")


# --- webhooks -------------------------------------------------------------------------------------

WEBHOOK_ERROR_FIELDS = {f: f for f in ("url", "description", "event_types", "is_active")}


def _webhook(webhook_id: int) -> Any:
    found = subscription_selectors.subscription_list().filter(pk=webhook_id).first()
    if found is None:
        raise Http404()
    return found


def _webhooks_page(
    request: HttpRequest, form: forms.WebhookForm | None = None, status: int = 200
) -> HttpResponse:
    return _page(
        request,
        "webhooks.html",
        {
            "webhooks": list(subscription_selectors.subscription_list()[:200]),
            "form": form or forms.WebhookForm(initial={"is_active": True}),
        },
        status=status,
    )


def _webhook_page(
    request: HttpRequest,
    subscription: Any,
    form: forms.WebhookForm | None = None,
    *,
    secret: str = "",
    status: int = 200,
) -> HttpResponse:
    initial = {
        "url": subscription.url,
        "description": subscription.description,
        "event_types": subscription.event_types,
        "is_active": subscription.is_active,
    }
    deliveries = list(subscription_selectors.delivery_list(subscription=subscription)[:100])
    return _page(
        request,
        "webhook_detail.html",
        {
            "webhook": subscription,
            "form": form or forms.WebhookForm(initial=initial),
            "deliveries": deliveries,
            "secret": secret,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@ops_view(STAFF)
def webhooks(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _webhooks_page(request)
    form = forms.WebhookForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                created = subscription_services.subscription_create(
                    url=data["url"],
                    event_types=data["event_types"],
                    description=data["description"],
                    actor=user_of(request),
                )
                if not data["is_active"]:
                    created = subscription_services.subscription_update(
                        subscription=created, changes={"is_active": False}, actor=user_of(request)
                    )
        except DomainError as error:
            forms.attach_error(form, error, WEBHOOK_ERROR_FIELDS)
        else:
            # The signing secret is shown in this answer only (never in a cookie or a log).
            return _webhook_page(request, created, secret=created.secret, status=201)
    return _webhooks_page(request, form, status=REFUSED)


@require_http_methods(["GET", "POST"])
@ops_view(STAFF)
def webhook_detail(request: HttpRequest, webhook_id: int) -> HttpResponse:
    subscription = _webhook(webhook_id)
    if request.method == "GET":
        return _webhook_page(request, subscription)
    form = forms.WebhookForm(request.POST)
    if form.is_valid():
        try:
            subscription_services.subscription_update(
                subscription=subscription, changes=form.cleaned_data, actor=user_of(request)
            )
        except DomainError as error:
            forms.attach_error(form, error, WEBHOOK_ERROR_FIELDS)
        else:
            messages.success(request, _("Webhook saved."))
            return redirect("ops-settings-webhook", webhook_id=subscription.pk)
    return _webhook_page(request, subscription, form, status=REFUSED)


@require_POST
@ops_view(STAFF)
def webhook_delete(request: HttpRequest, webhook_id: int) -> HttpResponse:
    subscription = _webhook(webhook_id)
    subscription_services.subscription_delete(subscription=subscription, actor=user_of(request))
    messages.success(request, _("Webhook %(url)s deleted.") % {"url": subscription.url})
    return redirect("ops-settings-webhooks")


@require_POST
@ops_view(STAFF)
def webhook_test(request: HttpRequest, webhook_id: int) -> HttpResponse:
    subscription = _webhook(webhook_id)
    try:
        subscription_services.subscription_test(subscription=subscription, actor=user_of(request))
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("Test event queued; it appears in the delivery log below."))
    return redirect("ops-settings-webhook", webhook_id=subscription.pk)


@require_POST
@ops_view(STAFF)
def webhook_rotate(request: HttpRequest, webhook_id: int) -> HttpResponse:
    subscription = subscription_services.subscription_rotate_secret(
        subscription=_webhook(webhook_id), actor=user_of(request)
    )
    return _webhook_page(request, subscription, secret=subscription.secret)


# --- branding -------------------------------------------------------------------------------------

TENANT_FIELDS = tenancy_services.BRANDING_FIELDS
PORTAL_FIELDS = ("sharing_enabled", "share_link_days", "driver_position")


@require_http_methods(["GET", "POST"])
@ops_view(ADMIN_ONLY)
def branding(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant  # type: ignore[attr-defined]
    portal = portal_selectors.portal_settings()
    status = 200
    if request.method == "POST":
        form = forms.BrandingForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with transaction.atomic():
                    tenancy_services.tenant_branding_update(
                        tenant=tenant,
                        changes={name: data[name] for name in TENANT_FIELDS},
                        logo=data["logo"],
                        remove_logo=data["remove_logo"],
                        actor=user_of(request),
                    )
                    portal_services.settings_set(
                        actor=user_of(request), **{name: data[name] for name in PORTAL_FIELDS}
                    )
            except DomainError as error:
                forms.attach_error(form, error, {f: f for f in form.fields})
            except ValidationError as error:
                for field, problems in error.message_dict.items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
            else:
                messages.success(request, _("Branding saved."))
                return redirect("ops-settings-branding")
        status = REFUSED
    else:
        initial = {name: getattr(tenant, name) for name in TENANT_FIELDS}
        initial |= {name: getattr(portal, name) for name in PORTAL_FIELDS}
        form = forms.BrandingForm(initial=initial)
    return _page(request, "branding.html", {"form": form, "portal": portal}, status=status)
