"""Sensible default milestone templates per transport mode (pure data).

Tenants start from these and edit them. Offsets are typical door-to-door lead times, not
promises; tolerances say how much slippage is normal before a milestone counts as late.

Notes on choices:
* ``order_created`` is not *required*: the booking itself proves the order exists, and a
  missing order_created event must not flag every later milestone out of sequence.
* ``warehouse_received`` is only required where the hub receipt is a real control point (LCL
  container freight station); elsewhere carriers often do not report hub scans.
* ``customs_hold`` is an exception_hold, ``returned``/``failed_delivery`` are terminal
  alternatives: none of them is required or planned. Every template has both alternatives
  (a return or a failed delivery happens in every mode); cancellation needs no milestone (the
  engine handles a ``cancelled`` event with any template).
* ``out_for_delivery``, ``failed_delivery`` and ``customs_hold`` are repeatable: delivery
  attempts and holds legitimately happen more than once, and the latest report is the current
  attempt (see the engine docstring, Actual rule).
* Optional milestones are never late by absence (engine docstring, Lateness), so a hub scan a
  mode's carriers rarely send is optional rather than required.
* ``delivered`` and ``proof_of_delivery`` trigger billing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from milestones.engine import (
    BOOKING_ANCHOR,
    KIND_EXCEPTION_HOLD,
    KIND_PROGRESS,
    KIND_TERMINAL_ALT,
    MilestoneDef,
    PlannedRule,
)

__all__ = ["DEFAULT_TEMPLATES", "LABELS", "MODES", "REPEATABLE", "default_template"]

LABELS: Mapping[str, Mapping[str, str]] = {
    "order_created": {
        "en": "Order created",
        "de": "Auftrag angelegt",
        "fr": "Commande créée",
        "es": "Pedido creado",
    },
    "picked_up": {"en": "Picked up", "de": "Abgeholt", "fr": "Enlevé", "es": "Recogido"},
    "warehouse_received": {
        "en": "Received at warehouse",
        "de": "Im Lager eingegangen",
        "fr": "Reçu en entrepôt",
        "es": "Recibido en almacén",
    },
    "departed": {
        "en": "Departed",
        "de": "Abgefahren",
        "fr": "Départ effectué",
        "es": "Salida realizada",
    },
    "arrived": {
        "en": "Arrived",
        "de": "Angekommen",
        "fr": "Arrivée effectuée",
        "es": "Llegada realizada",
    },
    "customs_hold": {
        "en": "Held by customs",
        "de": "Vom Zoll angehalten",
        "fr": "Retenu en douane",
        "es": "Retenido en aduana",
    },
    "customs_cleared": {
        "en": "Customs cleared",
        "de": "Zollabfertigung erfolgt",
        "fr": "Dédouané",
        "es": "Despachado de aduana",
    },
    "out_for_delivery": {
        "en": "Out for delivery",
        "de": "In Zustellung",
        "fr": "En cours de livraison",
        "es": "En reparto",
    },
    "delivered": {"en": "Delivered", "de": "Zugestellt", "fr": "Livré", "es": "Entregado"},
    "proof_of_delivery": {
        "en": "Proof of delivery received",
        "de": "Zustellnachweis erhalten",
        "fr": "Preuve de livraison reçue",
        "es": "Prueba de entrega recibida",
    },
    "failed_delivery": {
        "en": "Delivery failed",
        "de": "Zustellung fehlgeschlagen",
        "fr": "Échec de livraison",
        "es": "Entrega fallida",
    },
    "returned": {
        "en": "Returned to sender",
        "de": "An Absender zurückgesandt",
        "fr": "Retourné à l'expéditeur",
        "es": "Devuelto al remitente",
    },
}

_BILLING = frozenset({"delivered", "proof_of_delivery"})
_KINDS = {"customs_hold": KIND_EXCEPTION_HOLD, "failed_delivery": KIND_TERMINAL_ALT}
_KINDS["returned"] = KIND_TERMINAL_ALT
# Who may report what: an order is created by us, the customer portal or the shipper's system.
_ALLOWED_SOURCES = {"order_created": frozenset({"system", "user", "integration"})}
# Milestones that legitimately happen again (delivery attempts, holds): the latest is current.
REPEATABLE = frozenset({"out_for_delivery", "failed_delivery", "customs_hold"})

H = timedelta(hours=1)
D = timedelta(days=1)

# (code, anchor or None, offset, tolerance, required)
_Step = tuple[str, str | None, timedelta, timedelta, bool]


def _build(steps: list[_Step]) -> list[MilestoneDef]:
    return [
        MilestoneDef(
            code=code,
            label=dict(LABELS[code]),
            sequence=(index + 1) * 10,
            required=required,
            customer_visible=True,
            allowed_sources=_ALLOWED_SOURCES.get(code, frozenset()),
            planned=PlannedRule(anchor=anchor, offset=offset) if anchor else None,
            tolerance=tolerance,
            triggers_billing=code in _BILLING,
            kind=_KINDS.get(code, KIND_PROGRESS),
            repeatable=code in REPEATABLE,
        )
        for index, (code, anchor, offset, tolerance, required) in enumerate(steps)
    ]


def _order() -> _Step:
    return ("order_created", BOOKING_ANCHOR, timedelta(0), 4 * H, False)


def _hold() -> _Step:
    return ("customs_hold", None, timedelta(0), timedelta(0), False)


def _alternatives() -> list[_Step]:
    return [
        ("failed_delivery", None, timedelta(0), timedelta(0), False),
        ("returned", None, timedelta(0), timedelta(0), False),
    ]


DEFAULT_TEMPLATES: dict[str, list[MilestoneDef]] = {
    "ocean_fcl": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 3 * D, 1 * D, True),
            ("departed", "picked_up", 2 * D, 1 * D, True),
            ("arrived", "departed", 21 * D, 2 * D, True),
            _hold(),
            ("customs_cleared", "arrived", 2 * D, 1 * D, True),
            ("out_for_delivery", "customs_cleared", 1 * D, 1 * D, True),
            ("delivered", "out_for_delivery", 10 * H, 12 * H, True),
            ("proof_of_delivery", "delivered", 2 * D, 1 * D, True),
            *_alternatives(),
        ]
    ),
    "ocean_lcl": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 3 * D, 1 * D, True),
            ("warehouse_received", "picked_up", 1 * D, 1 * D, True),
            ("departed", "warehouse_received", 4 * D, 2 * D, True),
            ("arrived", "departed", 24 * D, 3 * D, True),
            _hold(),
            ("customs_cleared", "arrived", 3 * D, 1 * D, True),
            ("out_for_delivery", "customs_cleared", 2 * D, 1 * D, True),
            ("delivered", "out_for_delivery", 10 * H, 12 * H, True),
            ("proof_of_delivery", "delivered", 2 * D, 1 * D, True),
            *_alternatives(),
        ]
    ),
    "air": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 1 * D, 12 * H, True),
            ("warehouse_received", "picked_up", 8 * H, 6 * H, False),
            ("departed", "picked_up", 1 * D + 8 * H, 12 * H, True),
            ("arrived", "departed", 14 * H, 6 * H, True),
            _hold(),
            ("customs_cleared", "arrived", 1 * D, 12 * H, True),
            ("out_for_delivery", "customs_cleared", 12 * H, 6 * H, True),
            ("delivered", "out_for_delivery", 8 * H, 4 * H, True),
            ("proof_of_delivery", "delivered", 1 * D, 12 * H, True),
            *_alternatives(),
        ]
    ),
    "road_ftl": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 1 * D, 4 * H, True),
            ("departed", "picked_up", 1 * H, 2 * H, True),
            ("arrived", "departed", 2 * D, 6 * H, True),
            ("delivered", "arrived", 2 * H, 2 * H, True),
            ("proof_of_delivery", "delivered", 2 * D, 1 * D, True),
            *_alternatives(),
        ]
    ),
    "road_ltl": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 1 * D, 6 * H, True),
            ("warehouse_received", "picked_up", 6 * H, 6 * H, False),
            ("departed", "picked_up", 1 * D + 6 * H, 12 * H, True),
            ("arrived", "departed", 2 * D, 12 * H, True),
            ("out_for_delivery", "arrived", 1 * D, 12 * H, True),
            ("delivered", "out_for_delivery", 8 * H, 4 * H, True),
            ("proof_of_delivery", "delivered", 2 * D, 1 * D, True),
            *_alternatives(),
        ]
    ),
    "parcel": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 1 * D, 12 * H, True),
            ("warehouse_received", "picked_up", 6 * H, 6 * H, False),
            ("departed", "picked_up", 12 * H, 6 * H, False),
            ("arrived", "departed", 1 * D, 12 * H, False),
            ("out_for_delivery", "arrived", 12 * H, 6 * H, True),
            ("delivered", "out_for_delivery", 8 * H, 4 * H, True),
            ("proof_of_delivery", "delivered", 1 * D, 12 * H, False),
            *_alternatives(),
        ]
    ),
    "last_mile": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 4 * H, 2 * H, True),
            ("out_for_delivery", "picked_up", 2 * H, 2 * H, True),
            ("delivered", "out_for_delivery", 6 * H, 2 * H, True),
            ("proof_of_delivery", "delivered", 1 * H, 2 * H, True),
            *_alternatives(),
        ]
    ),
    "first_mile": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 1 * D, 6 * H, True),
            ("departed", "picked_up", 1 * H, 2 * H, True),
            ("arrived", "departed", 8 * H, 4 * H, True),
            ("warehouse_received", "arrived", 2 * H, 4 * H, False),
            ("delivered", "arrived", 4 * H, 4 * H, True),
            ("proof_of_delivery", "delivered", 1 * D, 12 * H, False),
            *_alternatives(),
        ]
    ),
    "multimodal": _build(
        [
            _order(),
            ("picked_up", BOOKING_ANCHOR, 2 * D, 1 * D, True),
            ("warehouse_received", "picked_up", 1 * D, 1 * D, False),
            ("departed", "picked_up", 4 * D, 1 * D, True),
            ("arrived", "departed", 18 * D, 2 * D, True),
            _hold(),
            ("customs_cleared", "arrived", 2 * D, 1 * D, True),
            ("out_for_delivery", "customs_cleared", 2 * D, 1 * D, True),
            ("delivered", "out_for_delivery", 10 * H, 12 * H, True),
            ("proof_of_delivery", "delivered", 2 * D, 1 * D, True),
            *_alternatives(),
        ]
    ),
}

MODES: tuple[str, ...] = tuple(DEFAULT_TEMPLATES)


def default_template(mode: str) -> list[MilestoneDef]:
    """A fresh copy of the default template for ``mode`` (KeyError if unknown)."""
    return list(DEFAULT_TEMPLATES[mode])
