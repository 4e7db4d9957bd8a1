"""What notifications say: built-in default wording per topic, channel and locale (English and
German), ``{{ placeholder }}`` rendering, and the tenant-branded HTML of emails.

Pure (no database): rendering only substitutes a fixed set of plain-text values. Tenant
templates are not Django templates on purpose: a tenant's text must not reach attributes of
whatever objects a template context holds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join

from tenancy.errors import DomainError

TOPICS = ("milestone", "out_for_delivery", "delivered", "exception", "message")
PLACEHOLDERS = frozenset(
    {
        "tenant_name",
        "tracking_number",
        "milestone",
        "eta",
        "eta_window",
        "message",
        "support_email",
        "support_phone",
        "tracking_url",
        "unsubscribe_url",
    }
)
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
DEFAULT_LOCALE = "en"
SMS_MAX_CHARS = 1600  # the longest SMS a provider concatenates (10 segments)


class TemplateRefused(DomainError):
    code = "invalid_template"


@dataclass(frozen=True)
class Wording:
    subject: str
    body: str


_EN_OPT_OUT = "Opt out: {{ unsubscribe_url }}"
_DE_OPT_OUT = "Abmelden: {{ unsubscribe_url }}"
_EN_FOOTER = "\n\nQuestions? {{ support_email }} {{ support_phone }}"
_DE_FOOTER = "\n\nFragen? {{ support_email }} {{ support_phone }}"

# (topic, channel, locale) -> wording. Email bodies are text; the HTML is the branded layout.
DEFAULTS: dict[tuple[str, str, str], Wording] = {
    ("milestone", "email", "en"): Wording(
        "{{ tenant_name }}: {{ tracking_number }} - {{ milestone }}",
        "Your shipment {{ tracking_number }}: {{ milestone }}.\nExpected: {{ eta_window }}."
        + _EN_FOOTER,
    ),
    ("milestone", "email", "de"): Wording(
        "{{ tenant_name }}: {{ tracking_number }} - {{ milestone }}",
        "Ihre Sendung {{ tracking_number }}: {{ milestone }}.\nErwartet: {{ eta_window }}."
        + _DE_FOOTER,
    ),
    ("milestone", "sms", "en"): Wording(
        "", "{{ tenant_name }}: {{ tracking_number }} - {{ milestone }}. " + _EN_OPT_OUT
    ),
    ("milestone", "sms", "de"): Wording(
        "", "{{ tenant_name }}: {{ tracking_number }} - {{ milestone }}. " + _DE_OPT_OUT
    ),
    ("out_for_delivery", "email", "en"): Wording(
        "{{ tenant_name }}: your delivery is on its way",
        "Your shipment {{ tracking_number }} is out for delivery today.\n"
        "Expected: {{ eta_window }}.\nTrack it: {{ tracking_url }}" + _EN_FOOTER,
    ),
    ("out_for_delivery", "email", "de"): Wording(
        "{{ tenant_name }}: Ihre Sendung ist unterwegs",
        "Ihre Sendung {{ tracking_number }} wird heute zugestellt.\n"
        "Erwartet: {{ eta_window }}.\nSendungsverfolgung: {{ tracking_url }}" + _DE_FOOTER,
    ),
    ("out_for_delivery", "sms", "en"): Wording(
        "",
        "{{ tenant_name }}: {{ tracking_number }} is out for delivery, expected "
        "{{ eta_window }}. " + _EN_OPT_OUT,
    ),
    ("out_for_delivery", "sms", "de"): Wording(
        "",
        "{{ tenant_name }}: {{ tracking_number }} ist in Zustellung, erwartet "
        "{{ eta_window }}. " + _DE_OPT_OUT,
    ),
    ("delivered", "email", "en"): Wording(
        "{{ tenant_name }}: delivered",
        "Your shipment {{ tracking_number }} has been delivered." + _EN_FOOTER,
    ),
    ("delivered", "email", "de"): Wording(
        "{{ tenant_name }}: zugestellt",
        "Ihre Sendung {{ tracking_number }} wurde zugestellt." + _DE_FOOTER,
    ),
    ("delivered", "sms", "en"): Wording(
        "", "{{ tenant_name }}: {{ tracking_number }} has been delivered. " + _EN_OPT_OUT
    ),
    ("delivered", "sms", "de"): Wording(
        "", "{{ tenant_name }}: {{ tracking_number }} wurde zugestellt. " + _DE_OPT_OUT
    ),
    ("exception", "email", "en"): Wording(
        "{{ tenant_name }}: an update on {{ tracking_number }}",
        "There is a problem with your shipment {{ tracking_number }}: {{ message }}\n"
        "New estimate: {{ eta_window }}." + _EN_FOOTER,
    ),
    ("exception", "email", "de"): Wording(
        "{{ tenant_name }}: Neuigkeiten zu {{ tracking_number }}",
        "Bei Ihrer Sendung {{ tracking_number }} gibt es ein Problem: {{ message }}\n"
        "Neue Schätzung: {{ eta_window }}." + _DE_FOOTER,
    ),
    ("exception", "sms", "en"): Wording(
        "",
        "{{ tenant_name }}: {{ tracking_number }} - {{ message }} New estimate "
        "{{ eta_window }}. " + _EN_OPT_OUT,
    ),
    ("exception", "sms", "de"): Wording(
        "",
        "{{ tenant_name }}: {{ tracking_number }} - {{ message }} Neue Schätzung "
        "{{ eta_window }}. " + _DE_OPT_OUT,
    ),
    ("message", "email", "en"): Wording(
        "{{ tenant_name }}: {{ tracking_number }}",
        "{{ message }}\n\nShipment {{ tracking_number }}, expected {{ eta_window }}." + _EN_FOOTER,
    ),
    ("message", "email", "de"): Wording(
        "{{ tenant_name }}: {{ tracking_number }}",
        "{{ message }}\n\nSendung {{ tracking_number }}, erwartet {{ eta_window }}." + _DE_FOOTER,
    ),
    ("message", "sms", "en"): Wording(
        "", "{{ tenant_name }}: {{ tracking_number }} - {{ message }} " + _EN_OPT_OUT
    ),
    ("message", "sms", "de"): Wording(
        "", "{{ tenant_name }}: {{ tracking_number }} - {{ message }} " + _DE_OPT_OUT
    ),
}
# In-app messages read like the email's subject line and first paragraph, without opt-out.
for (_topic, _channel, _locale), _wording in list(DEFAULTS.items()):
    if _channel == "email":
        _first = _wording.body.split("\n\n")[0]
        DEFAULTS[(_topic, "in_app", _locale)] = Wording(_wording.subject, _first)
# Partner webhooks carry data, not prose: the same short text as an in-app message.
for (_topic, _channel, _locale), _wording in list(DEFAULTS.items()):
    if _channel == "in_app":
        DEFAULTS[(_topic, "webhook", _locale)] = _wording


def locale_candidates(*locales: str) -> list[str]:
    """ "de-AT", then "de", then the next locale given, ..., then English."""
    found: list[str] = []
    for locale in locales:
        if not locale:
            continue
        lowered = locale.replace("_", "-").lower()
        for candidate in (lowered, lowered.split("-")[0]):
            if candidate not in found:
                found.append(candidate)
    if DEFAULT_LOCALE not in found:
        found.append(DEFAULT_LOCALE)
    return found


def default_wording(topic: str, channel: str, locales: list[str]) -> Wording:
    for locale in locales:
        found = DEFAULTS.get((topic, channel, locale))
        if found is not None:
            return found
    return DEFAULTS[("message", channel, DEFAULT_LOCALE)]


def check_template(*, subject: str, body: str, channel: str) -> None:
    """Refuse unknown placeholders and over-long SMS, naming the field."""
    for field, text in (("subject", subject), ("body", body)):
        unknown = sorted(set(PLACEHOLDER.findall(text)) - PLACEHOLDERS)
        if unknown:
            raise TemplateRefused(
                f"Unknown placeholder(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(PLACEHOLDERS))}",
                field=field,
            )
    if not body.strip():
        raise TemplateRefused("The body is empty.", field="body")
    if channel == "sms" and len(body) > SMS_MAX_CHARS:
        raise TemplateRefused(
            f"An SMS template is at most {SMS_MAX_CHARS} characters.", field="body"
        )


def render(text: str, values: Mapping[str, str]) -> str:
    """``{{ name }}`` -> the value (missing values render empty); nothing else is evaluated."""
    rendered = PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), text)
    return re.sub(r"[ \t]+\n", "\n", rendered).strip()


@dataclass(frozen=True)
class Branding:
    name: str
    logo_url: str
    primary_colour: str
    accent_colour: str
    support_email: str
    support_phone: str


def email_html(*, branding: Branding, subject: str, body: str, unsubscribe_url: str) -> str:
    """The tenant-branded HTML alternative of an email (inline styles: mail clients drop CSS)."""
    logo = (
        format_html(
            '<img src="{}" alt="{}" style="max-height:40px;display:block">',
            branding.logo_url,
            branding.name,
        )
        if branding.logo_url
        else format_html('<strong style="font-size:20px;color:#fff">{}</strong>', branding.name)
    )
    contact = " · ".join(c for c in (branding.support_email, branding.support_phone) if c)
    return format_html(
        '<!doctype html><html><body style="margin:0;font-family:Arial,sans-serif;color:#1d1d1f">'
        '<div style="background:{};padding:16px 24px">{}</div>'
        '<div style="padding:24px"><h1 style="font-size:18px;color:{}">{}</h1>{}</div>'
        '<div style="padding:16px 24px;font-size:12px;color:#666;border-top:3px solid {}">'
        '{}{}<br><a href="{}" style="color:#666">Unsubscribe</a></div></body></html>',
        branding.primary_colour,
        logo,
        branding.primary_colour,
        subject,
        format_html_join(
            "", '<p style="margin:0 0 8px">{}</p>', ((line,) for line in body.splitlines() if line)
        ),
        branding.accent_colour,
        branding.name,
        format_html(" · {}", contact) if contact else "",
        unsubscribe_url,
    )
