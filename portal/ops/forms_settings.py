"""Forms of the settings pages. They only shape browser input into what the owning services
take; every rule is checked by those services (milestones.engine.validate_template,
integrations.workflow.services.rule_save, ...), whose field errors are put back on these
forms (``attach_error``) so they show next to the field or row at fault."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from integrations.notifications import wording
from integrations.notifications.serializers import TEMPLATE_CHANNELS
from integrations.subscriptions.models import EventType
from integrations.workflow.models import Trigger
from milestones import engine
from portal.tracking.models import DriverPosition
from tenancy.errors import DomainError
from tenancy.models import Role

LABEL_LOCALES = [code for code, _name in settings.LANGUAGES]
KINDS = [
    (engine.KIND_PROGRESS, _("progress")),
    (engine.KIND_EXCEPTION_HOLD, _("exception hold")),
    (engine.KIND_TERMINAL_ALT, _("terminal alternative")),
]


def attach_error(form: forms.Form, error: DomainError, mapping: dict[str, str]) -> None:
    """Put a service's field errors on the form field they name (``mapping``: the service's
    field, or its first dotted part, to the form field); anything else on the whole form."""
    for field, messages in (error.fields or {"": [error.message]}).items():
        target = mapping.get(field) or mapping.get(field.split(".")[0].split("[")[0])
        for message in messages:
            text = message if target is None or field in mapping else f"{field}: {message}"
            form.add_error(target if target in form.fields else None, text)


def hours_text(value: timedelta | None) -> str:
    """A duration as hours for the editor: "36", "1:30", "-2" (exact to the minute)."""
    if value is None:
        return ""
    minutes = round(value.total_seconds() / 60)
    sign, minutes = ("-" if minutes < 0 else ""), abs(minutes)
    hours, rest = divmod(minutes, 60)
    return f"{sign}{hours}" + (f":{rest:02d}" if rest else "")


class HoursField(forms.CharField):
    """Hours as "36", "1.5" or "1:30" (negative allowed: the engine decides what is valid)."""

    default_error_messages = {"invalid": _("Hours, e.g. 36, 1.5 or 1:30.")}

    def to_python(self, value: Any) -> timedelta | None:  # type: ignore[override]
        text = (super().to_python(value) or "").strip().replace(",", ".")
        if not text:
            return None
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        try:
            if ":" in text:
                hours, minutes = text.split(":", 1)
                if not minutes.isdigit() or int(minutes) >= 60:
                    raise ValueError(text)
                total = Decimal(int(hours or 0) * 60 + int(minutes))
            else:
                total = Decimal(text) * 60
        except (ValueError, ArithmeticError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not total.is_finite() or abs(total) > 60 * 24 * 366:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return sign * timedelta(minutes=int(total.to_integral_value()))


class MilestoneRowForm(forms.Form):
    """One milestone of a template draft. Offsets and tolerances are hours (may be decimal);
    a negative tolerance is let through so the engine's own check refuses it in place."""

    code = forms.CharField(max_length=40, required=False)
    sequence = forms.IntegerField(min_value=0, required=False)
    kind = forms.ChoiceField(choices=KINDS, initial=engine.KIND_PROGRESS)
    required = forms.BooleanField(required=False)
    customer_visible = forms.BooleanField(required=False)
    repeatable = forms.BooleanField(required=False)
    triggers_billing = forms.BooleanField(required=False)
    allowed_sources = forms.CharField(
        max_length=200, required=False, help_text=_("comma-separated; empty: any source")
    )
    planned_anchor = forms.CharField(max_length=40, required=False)
    planned_offset_hours = HoursField(required=False)
    tolerance_hours = HoursField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for locale in LABEL_LOCALES:
            self.fields[f"label_{locale}"] = forms.CharField(
                max_length=120, required=False, label=locale
            )

    @property
    def label_fields(self) -> list[forms.BoundField]:
        return [self[f"label_{locale}"] for locale in LABEL_LOCALES]

    @staticmethod
    def initial_for(definition: Any) -> dict[str, Any]:
        initial = {
            "code": definition.code,
            "sequence": definition.sequence,
            "kind": definition.kind,
            "required": definition.required,
            "customer_visible": definition.customer_visible,
            "repeatable": definition.repeatable,
            "triggers_billing": definition.triggers_billing,
            "allowed_sources": ", ".join(sorted(definition.allowed_sources)),
            "planned_anchor": definition.planned_anchor,
            "planned_offset_hours": hours_text(definition.planned_offset),
            "tolerance_hours": hours_text(definition.tolerance),
        }
        for locale in LABEL_LOCALES:
            initial[f"label_{locale}"] = dict(definition.labels).get(locale, "")
        return initial

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not (data.get("code") or "").strip()

    def to_engine(self) -> engine.MilestoneDef:
        data = self.cleaned_data
        anchor = (data.get("planned_anchor") or "").strip()
        offset = data.get("planned_offset_hours") or timedelta(0)
        tolerance = data.get("tolerance_hours") or timedelta(0)
        sources = frozenset(
            s.strip() for s in (data.get("allowed_sources") or "").split(",") if s.strip()
        )
        return engine.MilestoneDef(
            code=(data.get("code") or "").strip(),
            label={
                locale: data[f"label_{locale}"].strip()
                for locale in LABEL_LOCALES
                if data.get(f"label_{locale}", "").strip()
            },
            sequence=data.get("sequence") or 0,
            required=bool(data.get("required")),
            customer_visible=bool(data.get("customer_visible")),
            allowed_sources=sources,
            planned=engine.PlannedRule(anchor=anchor, offset=offset) if anchor else None,
            tolerance=tolerance,
            triggers_billing=bool(data.get("triggers_billing")),
            kind=data.get("kind") or engine.KIND_PROGRESS,
            repeatable=bool(data.get("repeatable")),
        )


MilestoneFormSet = forms.formset_factory(MilestoneRowForm, extra=2, can_delete=True, max_num=60)

# The engine's field names (TemplateInvalid.field) -> the row form's fields.
MILESTONE_ERROR_FIELDS = {
    "code": "code",
    "sequence": "sequence",
    "kind": "kind",
    "tolerance": "tolerance_hours",
    "allowed_sources": "allowed_sources",
    "planned.anchor": "planned_anchor",
    "planned": "planned_anchor",
}


class TemplateNoteForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, label=_("What changed"))


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120, required=False)
    trigger = forms.ChoiceField(choices=Trigger.choices)
    is_active = forms.BooleanField(required=False, initial=True, label=_("Active"))
    when = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_('JSON, e.g. {"milestone": "delivered"} or {"minutes": 120}'),
    )
    filters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_('JSON, e.g. {"mode": "road_ftl", "carrier": "DHL"}'),
    )
    actions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_('JSON list, e.g. [{"type": "set_tag", "config": {"tag": "vip"}}]'),
    )

    @staticmethod
    def initial_for(rule: Any) -> dict[str, Any]:
        return {
            "name": rule.name,
            "trigger": rule.trigger,
            "is_active": rule.is_active,
            "when": json.dumps(rule.when),
            "filters": json.dumps(rule.filters),
            "actions": json.dumps(rule.actions, indent=1),
        }

    def _json(self, name: str, default: Any) -> Any:
        text = (self.cleaned_data.get(name) or "").strip()
        if not text:
            return default
        try:
            return json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(_("Not valid JSON: %(e)s") % {"e": error}) from None

    def clean_when(self) -> Any:
        return self._json("when", {})

    def clean_filters(self) -> Any:
        return self._json("filters", {})

    def clean_actions(self) -> Any:
        return self._json("actions", [])


RULE_ERROR_FIELDS = {
    "name": "name",
    "trigger": "trigger",
    "when": "when",
    "filters": "filters",
    "actions": "actions",
}


class NotificationTemplateForm(forms.Form):
    topic = forms.ChoiceField(choices=[(t, t) for t in wording.TOPICS])
    channel = forms.ChoiceField(choices=TEMPLATE_CHANNELS)
    locale = forms.CharField(max_length=16, initial="en")
    subject = forms.CharField(max_length=200, required=False)
    body = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 5}))


class PreferenceForm(forms.Form):
    customer_account = forms.TypedChoiceField(coerce=int, label=_("Customer account"))
    email = forms.EmailField(required=False)
    phone = forms.CharField(
        max_length=20, required=False, help_text=_("E.164, e.g. +4915112345678")
    )
    locale = forms.CharField(max_length=16, required=False)
    timezone = forms.CharField(max_length=64, required=False)
    email_enabled = forms.BooleanField(required=False)
    sms_enabled = forms.BooleanField(required=False)
    in_app_enabled = forms.BooleanField(required=False, initial=True)
    email_milestones = forms.CharField(
        max_length=600, required=False, help_text=_("comma-separated; empty: every milestone")
    )
    sms_milestones = forms.CharField(max_length=600, required=False)
    quiet_hours_start = forms.TimeField(
        required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_hours_end = forms.TimeField(
        required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )

    def __init__(self, *args: Any, accounts: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["customer_account"].choices = accounts  # type: ignore[attr-defined]

    @staticmethod
    def codes(text: str) -> list[str]:
        return [c.strip() for c in (text or "").split(",") if c.strip()]


ROLE_CHOICES = Role.choices


class MemberInviteForm(forms.Form):
    email = forms.CharField(max_length=254)
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial=Role.OPS)
    customer_accounts = forms.TypedMultipleChoiceField(
        coerce=int, required=False, label=_("Customer accounts (customer role)")
    )

    def __init__(self, *args: Any, accounts: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["customer_accounts"].choices = accounts  # type: ignore[attr-defined]


class MemberForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)
    is_active = forms.BooleanField(required=False, label=_("Active"))


class WebhookForm(forms.Form):
    url = forms.CharField(max_length=2000, label=_("URL"))
    description = forms.CharField(max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    is_active = forms.BooleanField(required=False, initial=True, label=_("Active"))


class BrandingForm(forms.Form):
    name = forms.CharField(max_length=200)
    locale = forms.ChoiceField(choices=settings.LANGUAGES)
    timezone = forms.CharField(max_length=64, label=_("Time zone"))
    primary_colour = forms.CharField(
        max_length=7, widget=forms.TextInput(attrs={"type": "color"}), label=_("Primary colour")
    )
    accent_colour = forms.CharField(
        max_length=7, widget=forms.TextInput(attrs={"type": "color"}), label=_("Accent colour")
    )
    support_email = forms.CharField(max_length=254, required=False, label=_("Support email"))
    support_phone = forms.CharField(max_length=40, required=False, label=_("Support phone"))
    logo = forms.FileField(required=False, help_text=_("PNG, JPEG or WebP, at most 512 KiB"))
    remove_logo = forms.BooleanField(required=False, label=_("Remove the logo"))
    sharing_enabled = forms.BooleanField(required=False, label=_("Customers may share links"))
    share_link_days = forms.IntegerField(
        min_value=1, max_value=365, label=_("Share links last (days)")
    )
    driver_position = forms.ChoiceField(
        choices=DriverPosition.choices, label=_("Driver position shown to customers")
    )
