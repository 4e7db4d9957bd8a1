"""The portal's words in English and German (the tenant's locale, else the browser's).

A plain table rather than gettext catalogues: the portal is the only user of these strings,
they are reviewed side by side, and a missing German entry falls back to English visibly
in tests (tests/portal/tracking/test_i18n.py checks both tables have the same keys).
"""

from __future__ import annotations

from collections.abc import Mapping

SUPPORTED = ("en", "de")

EN: Mapping[str, str] = {
    "track_title": "Track your delivery",
    "tracking_number": "Tracking number",
    "postcode_or_email": "Postcode or email (for full details)",
    "postcode_hint": "The delivery postcode or the email address we have for you.",
    "track_button": "Track",
    "not_found_title": "We could not find that shipment",
    "not_found_body": "Check the tracking number and try again. "
    "New shipments can take a few hours to appear.",
    "rate_limited": "Too many lookups from your connection. Please wait a minute and try again.",
    "status": "Status",
    "estimated_delivery": "Estimated delivery",
    "delivered_at": "Delivered",
    "history": "Shipment progress",
    "expected": "expected",
    "driver_nearby": "Your driver is on the way",
    "km_away": "km away",
    "your_address": "Your address",
    "driver_approximate": "Approximate position of your driver",
    "proof_of_delivery": "Proof of delivery",
    "received_by": "Received by",
    "photo": "Delivery photo",
    "signature": "Signature",
    "documents": "Documents",
    "notifications": "Get updates",
    "notify_sms": "Text message (SMS)",
    "notify_email": "Email",
    "phone": "Mobile number",
    "email": "Email address",
    "notify_milestones": "Tell me when",
    "save": "Save",
    "saved": "Saved. Thank you.",
    "rate_title": "How was your delivery?",
    "stars": "Rating",
    "comment": "Comment (optional)",
    "send": "Send",
    "followup_question": "Sorry to hear that. What went wrong?",
    "thanks_rating": "Thank you for your feedback.",
    "messages": "Messages",
    "message_to": "Send to",
    "driver": "Driver",
    "support": "Customer support",
    "your_message": "Your message",
    "you": "You",
    "return_title": "Send it back",
    "return_reason": "Reason for the return",
    "return_button": "Request a return",
    "return_created": "Return requested. Your return tracking number is",
    "contact": "Questions? Contact us",
    "more_details": "Enter your postcode or email above to see delivery details, "
    "proof of delivery and messages.",
    "share": "Share this page",
    "share_disabled": "Sharing is switched off.",
    "live": "Live",
    "your_shipments": "Your shipments",
    "search": "Search",
    "all_statuses": "All statuses",
    "no_shipments": "No shipments match.",
    "destination": "Destination",
    "updated": "Updated",
    "delayed_customs": "Delayed at customs",
    "delayed": "Running late",
    "delayed_failed": "We could not deliver today",
    "new_estimate": "new estimate",
    "status_booked": "Order received",
    "status_in_transit": "On its way",
    "status_at_customs": "At customs",
    "status_out_for_delivery": "Out for delivery",
    "status_delivered": "Delivered",
    "status_exception": "Needs attention",
    "status_cancelled": "Cancelled",
    "status_returned": "Returned",
    "status_failed_delivery": "Delivery attempt failed",
    "skip": "Skip to content",
    "language": "Language",
}

DE: Mapping[str, str] = {
    "track_title": "Sendung verfolgen",
    "tracking_number": "Sendungsnummer",
    "postcode_or_email": "Postleitzahl oder E-Mail (für alle Details)",
    "postcode_hint": "Die Postleitzahl der Lieferadresse oder Ihre bei uns hinterlegte E-Mail.",
    "track_button": "Verfolgen",
    "not_found_title": "Wir konnten diese Sendung nicht finden",
    "not_found_body": "Bitte prüfen Sie die Sendungsnummer. "
    "Neue Sendungen erscheinen nach einigen Stunden.",
    "rate_limited": "Zu viele Anfragen von Ihrer Verbindung. Bitte warten Sie eine Minute.",
    "status": "Status",
    "estimated_delivery": "Voraussichtliche Zustellung",
    "delivered_at": "Zugestellt",
    "history": "Sendungsverlauf",
    "expected": "erwartet",
    "driver_nearby": "Ihr Fahrer ist unterwegs",
    "km_away": "km entfernt",
    "your_address": "Ihre Adresse",
    "driver_approximate": "Ungefähre Position Ihres Fahrers",
    "proof_of_delivery": "Zustellnachweis",
    "received_by": "Empfangen von",
    "photo": "Zustellfoto",
    "signature": "Unterschrift",
    "documents": "Dokumente",
    "notifications": "Benachrichtigungen",
    "notify_sms": "SMS",
    "notify_email": "E-Mail",
    "phone": "Mobilnummer",
    "email": "E-Mail-Adresse",
    "notify_milestones": "Benachrichtigen bei",
    "save": "Speichern",
    "saved": "Gespeichert. Vielen Dank.",
    "rate_title": "Wie war Ihre Zustellung?",
    "stars": "Bewertung",
    "comment": "Kommentar (optional)",
    "send": "Senden",
    "followup_question": "Das tut uns leid. Was ist schiefgelaufen?",
    "thanks_rating": "Vielen Dank für Ihr Feedback.",
    "messages": "Nachrichten",
    "message_to": "An",
    "driver": "Fahrer",
    "support": "Kundenservice",
    "your_message": "Ihre Nachricht",
    "you": "Sie",
    "return_title": "Zurücksenden",
    "return_reason": "Grund der Rücksendung",
    "return_button": "Rücksendung anfordern",
    "return_created": "Rücksendung angefordert. Ihre Rücksendenummer lautet",
    "contact": "Fragen? Kontaktieren Sie uns",
    "more_details": "Geben Sie oben Ihre Postleitzahl oder E-Mail ein, um Zustelldetails, "
    "Zustellnachweis und Nachrichten zu sehen.",
    "share": "Diese Seite teilen",
    "share_disabled": "Teilen ist ausgeschaltet.",
    "live": "Live",
    "your_shipments": "Ihre Sendungen",
    "search": "Suchen",
    "all_statuses": "Alle Status",
    "no_shipments": "Keine passenden Sendungen.",
    "destination": "Ziel",
    "updated": "Aktualisiert",
    "delayed_customs": "Verzögert beim Zoll",
    "delayed": "Verspätet",
    "delayed_failed": "Wir konnten heute nicht zustellen",
    "new_estimate": "neue Schätzung",
    "status_booked": "Auftrag erhalten",
    "status_in_transit": "Unterwegs",
    "status_at_customs": "Beim Zoll",
    "status_out_for_delivery": "In Zustellung",
    "status_delivered": "Zugestellt",
    "status_exception": "Klärung nötig",
    "status_cancelled": "Storniert",
    "status_returned": "Zurückgesendet",
    "status_failed_delivery": "Zustellversuch fehlgeschlagen",
    "skip": "Zum Inhalt springen",
    "language": "Sprache",
}

TABLES: Mapping[str, Mapping[str, str]] = {"en": EN, "de": DE}


def pick_locale(*, requested: str = "", tenant_locale: str = "", accept: str = "") -> str:
    """?lang= first, then the tenant's locale, then the browser's first supported language."""
    for candidate in (requested, tenant_locale):
        code = (candidate or "").split("-")[0].lower()
        if code in SUPPORTED:
            return code
    for part in accept.split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in SUPPORTED:
            return code
    return "en"


class Words(dict):
    """``{{ t.key }}`` in templates; a missing key shows English rather than nothing."""

    def __init__(self, locale: str) -> None:
        super().__init__(EN)
        self.update(TABLES.get(locale, EN))
        self.locale = locale

    def __missing__(self, key: str) -> str:
        return key
