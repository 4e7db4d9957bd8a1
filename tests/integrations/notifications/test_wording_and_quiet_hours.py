"""Pure parts of notifications: quiet hours in the recipient's zone, wording per locale,
template checks, the branded HTML, unsubscribe tokens (signed, expiring). No database."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from django.core import signing

from integrations.notifications import services, wording
from integrations.notifications.quiet import quiet_until

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_quiet_hours_wrapping_midnight_end_at_the_local_morning():
    # 23:30 in Berlin (CEST, UTC+2) is inside 21:00-07:00: quiet until 07:00 Berlin = 05:00 UTC.
    late = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)
    assert quiet_until(late, start=clock(21), end=clock(7), zone=BERLIN) == datetime(
        2026, 7, 2, 5, 0, tzinfo=UTC
    )
    # 06:00 Berlin, still quiet, ends the same day.
    early = datetime(2026, 7, 2, 4, 0, tzinfo=UTC)
    assert quiet_until(early, start=clock(21), end=clock(7), zone=BERLIN) == datetime(
        2026, 7, 2, 5, 0, tzinfo=UTC
    )
    # 12:00 Berlin: not quiet.
    noon = datetime(2026, 7, 2, 10, 0, tzinfo=UTC)
    assert quiet_until(noon, start=clock(21), end=clock(7), zone=BERLIN) is None


def test_quiet_hours_are_the_recipients_own_zone():
    moment = datetime(2026, 7, 2, 3, 0, tzinfo=UTC)  # 05:00 in Berlin, 23:00 in New York
    assert quiet_until(moment, start=clock(22), end=clock(6), zone=BERLIN) is not None
    assert quiet_until(moment, start=clock(22), end=clock(6), zone=NEW_YORK) == datetime(
        2026, 7, 2, 10, 0, tzinfo=UTC
    )
    assert quiet_until(moment, start=clock(1), end=clock(4), zone=NEW_YORK) is None


def test_a_same_day_window_and_no_window():
    moment = datetime(2026, 1, 10, 12, 30, tzinfo=UTC)  # 13:30 in Berlin (CET)
    assert quiet_until(moment, start=clock(13), end=clock(14), zone=BERLIN) == datetime(
        2026, 1, 10, 13, 0, tzinfo=UTC
    )
    assert quiet_until(moment, start=None, end=None, zone=BERLIN) is None
    assert quiet_until(moment, start=clock(9), end=clock(9), zone=BERLIN) is None


def test_wording_falls_back_from_regional_locale_to_language_to_english():
    assert wording.locale_candidates("de-AT", "fr") == ["de-at", "de", "fr", "en"]
    german = wording.default_wording("delivered", "sms", wording.locale_candidates("de-AT"))
    assert "zugestellt" in german.body
    french = wording.default_wording("delivered", "sms", wording.locale_candidates("fr"))
    assert "delivered" in french.body
    for topic in wording.TOPICS:
        for channel in ("email", "sms", "in_app"):
            for locale in ("en", "de"):
                assert (topic, channel, locale) in wording.DEFAULTS


def test_render_substitutes_only_known_plain_values():
    text = "{{ tenant_name }}: {{tracking_number}} {{ unknown }} {{ tenant_name.__class__ }}"
    rendered = wording.render(text, {"tenant_name": "Acme", "tracking_number": "T1"})
    assert rendered == "Acme: T1  {{ tenant_name.__class__ }}"


def test_template_check_names_the_field():
    with pytest.raises(wording.TemplateRefused) as refused:
        wording.check_template(subject="{{ nope }}", body="ok", channel="email")
    assert refused.value.fields == {"subject": [refused.value.message]}
    with pytest.raises(wording.TemplateRefused) as too_long:
        wording.check_template(subject="", body="x" * 1601, channel="sms")
    assert "body" in too_long.value.fields
    wording.check_template(subject="", body="{{ tracking_number }} {{ eta_window }}", channel="sms")


def test_branded_email_html_escapes_content_and_carries_the_colours():
    branding = wording.Branding(
        name="Acme <Freight>",
        logo_url="https://cdn.example/logo.png",
        primary_colour="#123456",
        accent_colour="#abcdef",
        support_email="help@acme.example",
        support_phone="+49 40 123",
    )
    html = wording.email_html(
        branding=branding,
        subject="Out <b>now</b>",
        body="Line one\nLine <script>alert(1)</script>",
        unsubscribe_url="https://m.example/u?token=abc",
    )
    assert "#123456" in html and "#abcdef" in html
    assert 'src="https://cdn.example/logo.png"' in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Acme &lt;Freight&gt;" in html
    assert "help@acme.example" in html and "https://m.example/u?token=abc" in html


class _Pref:
    tenant_id = 7
    pk = 42


def test_unsubscribe_tokens_are_signed_and_checked():
    token = services.unsubscribe_token(preference=_Pref(), channel="sms")  # type: ignore[arg-type]
    claim = services.unsubscribe_token_read(token)
    assert (claim.tenant_id, claim.preference_id, claim.channel) == (7, 42, "sms")
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    with pytest.raises(services.TokenInvalid):
        services.unsubscribe_token_read(tampered)
    forged = signing.dumps({"t": 8, "p": 42, "c": "sms"}, salt="another purpose", compress=True)
    with pytest.raises(services.TokenInvalid):
        services.unsubscribe_token_read(forged)
    with pytest.raises(services.TokenInvalid):
        services.unsubscribe_token_read("not-a-token")


def test_unsubscribe_tokens_expire(monkeypatch, settings):
    settings.NOTIFICATIONS_UNSUBSCRIBE_DAYS = 60
    issued = time.time() - 61 * 86400
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    old = services.unsubscribe_token(preference=_Pref(), channel="email")  # type: ignore[arg-type]
    monkeypatch.undo()
    with pytest.raises(services.TokenExpired) as expired:
        services.unsubscribe_token_read(old)
    assert expired.value.code == "token_expired"
    settings.NOTIFICATIONS_UNSUBSCRIBE_DAYS = 90
    assert services.unsubscribe_token_read(old).channel == "email"
