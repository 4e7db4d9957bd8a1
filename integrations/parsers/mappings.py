"""Default source-code → milestone tables (digest sections 1.3, 2.3, 3.3, 4) and overrides."""

from __future__ import annotations

X12_AT7_MILESTONES: dict[str, str] = {
    "XB": "order_created",
    "X3": "other", "X8": "other", "AM": "other", "R1": "other", "J1": "other",
    "K1": "other", "AV": "other", "CD": "other", "OO": "other", "AN": "other",
    "BC": "other", "CL": "other",
    "CP": "picked_up", "AF": "picked_up", "BA": "picked_up",
    "X4": "arrived", "AR": "arrived", "X1": "arrived", "X5": "arrived", "S1": "arrived",
    "P1": "departed", "RL": "departed",
    "C1": "estimated", "B6": "estimated", "AG": "estimated", "X2": "estimated",
    "PR": "customs_hold",
    "CT": "customs_cleared",
    "X6": "out_for_delivery", "AJ": "out_for_delivery",
    "D1": "delivered", "CB": "delivered",
    "SD": "exception", "A9": "exception", "AH": "exception", "AP": "exception",
    "A7": "exception", "A3": "exception", "AI": "exception", "CA": "exception",
    "PA": "exception",
}  # fmt: skip
X12_ESTIMATE_CODES = frozenset({"AG", "X2", "C1", "B6"})

EDIFACT_STS_MILESTONES: dict[str, str] = {
    "1": "arrived", "2": "other", "5": "other", "14": "other", "6": "order_created",
    "7": "exception", "8": "customs_cleared", "9": "customs_cleared", "10": "other",
    "11": "other", "12": "customs_cleared", "13": "picked_up", "15": "other", "16": "other",
    "17": "customs_hold", "18": "exception", "20": "exception", "21": "delivered",
    "22": "delivered", "23": "exception", "24": "departed", "25": "exception",
    "27": "picked_up", "29": "arrived", "31": "other",
}  # fmt: skip

# DCSA codes are normalized to their 4-letter form before lookup (see DCSA_CODE_ALIASES).
DCSA_MILESTONES: dict[str, str] = {
    # transport
    "DEPA": "departed", "ARRI": "arrived", "APPR": "other",
    # equipment (GTIN/GTOT laden/empty rule applied by map_code with context)
    "PICK": "picked_up", "GTIN": "picked_up", "GTOT": "out_for_delivery", "DISC": "arrived",
    "DROP": "delivered", "CUSS": "customs_hold", "CUSI": "customs_hold",
    "CUSR": "customs_cleared", "LOAD": "other", "STUF": "other", "STRP": "other",
    "INSP": "other", "RSEA": "other", "RMVD": "other", "AVPU": "other", "AVDO": "other",
    "CROS": "other",
    # shipment (CONF/RECE count as order_created only for bookings)
    "CONF": "order_created", "RECE": "order_created", "HOLD": "exception",
    "REJE": "exception", "CANC": "exception", "VOID": "exception", "DRFT": "other",
    "PENA": "other", "PENU": "other", "PENC": "other", "ISSU": "other", "SURR": "other",
    "SUBM": "other", "REQS": "other", "CMPL": "other", "RELS": "other",
    # reefer / IoT (3.0)
    "ADJU": "other", "MEAS": "other", "DETC": "other",
}  # fmt: skip
DCSA_CODE_ALIASES: dict[str, str] = {
    "DEPARTED": "DEPA", "ARRIVED": "ARRI", "APPROACHING": "APPR",
    "PICKED_UP": "PICK", "GATED_IN": "GTIN", "GATE_IN": "GTIN", "GATED_OUT": "GTOT",
    "GATE_OUT": "GTOT", "DISCHARGED": "DISC", "DROPPED_OFF": "DROP",
    "CUSTOMS_SELECTED_FOR_SCAN": "CUSS", "CUSTOMS_SELECTED_FOR_INSPECTION": "CUSI",
    "CUSTOMS_RELEASED": "CUSR", "LOADED": "LOAD", "STUFFED": "STUF", "STRIPPED": "STRP",
    "INSPECTED": "INSP", "RESEALED": "RSEA", "REMOVED": "RMVD",
    "AVAILABLE_FOR_PICKUP": "AVPU", "AVAILABLE_FOR_PICK_UP": "AVPU",
    "AVAILABLE_FOR_DROPOFF": "AVDO", "AVAILABLE_FOR_DROP_OFF": "AVDO", "CROSSED": "CROS",
    "CONFIRMED": "CONF", "RECEIVED": "RECE", "ON_HOLD": "HOLD", "REJECTED": "REJE",
    "CANCELLED": "CANC", "CANCELED": "CANC", "VOIDED": "VOID", "DRAFTED": "DRFT",
    "PENDING_APPROVAL": "PENA", "PENDING_UPDATE": "PENU", "PENDING_CONFIRMATION": "PENC",
    "APPROVED": "APPR", "ISSUED": "ISSU", "SURRENDERED": "SURR", "SUBMITTED": "SUBM",
    "REQUESTED": "REQS", "COMPLETED": "CMPL", "RELEASED": "RELS", "ADJUSTED": "ADJU",
    "MEASURED": "MEAS", "DETECTED": "DETC",
}  # fmt: skip


def canonical_dcsa_code(code: str) -> str:
    return DCSA_CODE_ALIASES.get(code, code)


EPCIS_BIZSTEP_MILESTONES: dict[str, str] = {
    "shipping": "picked_up",
    "departing": "departed",
    "arriving": "arrived",
    "receiving": "delivered",
    "accepting": "delivered",
    "void_shipping": "exception",
}
EPCIS_EXCEPTION_DISPOSITIONS = frozenset({"damaged", "stolen", "destroyed"})

DEFAULT_MAPPINGS: dict[str, dict[str, str]] = {
    "x12": X12_AT7_MILESTONES,
    "edifact": EDIFACT_STS_MILESTONES,
    "dcsa": DCSA_MILESTONES,
    "epcis": EPCIS_BIZSTEP_MILESTONES,
}


def map_code(
    standard: str,
    code: str,
    *,
    overrides: dict[str, str] | None = None,
    context: dict | None = None,
) -> str:
    """Milestone for a raw source code: overrides win, then the standard's rules, else other.

    context keys used: classifier (ACT/EST/PLN), empty_indicator (DCSA EMPTY/LADEN),
    document_type (DCSA shipment events), disposition and sensor_exception (EPCIS).
    """
    if overrides and code in overrides:
        return overrides[code]
    context = context or {}
    classifier = context.get("classifier", "ACT")
    if standard in ("dcsa", "edifact") and classifier in ("EST", "PLN"):
        return "estimated"
    if standard == "epcis":
        return _epcis_milestone(code, context)
    if standard == "dcsa":
        code = canonical_dcsa_code(code)
        return _dcsa_adjust(code, DCSA_MILESTONES.get(code, "other"), context)
    return DEFAULT_MAPPINGS.get(standard, {}).get(code, "other")


def _dcsa_adjust(code: str, milestone: str, context: dict) -> str:
    if code in ("GTIN", "GTOT") and context.get("empty_indicator") == "EMPTY":
        return "other"
    if code in ("CONF", "RECE") and context.get("document_type") not in (None, "BKG"):
        return "other"
    return milestone


def _epcis_milestone(biz_step: str, context: dict) -> str:
    if context.get("disposition") in EPCIS_EXCEPTION_DISPOSITIONS:
        return "exception"
    if context.get("sensor_exception") or context.get("error_declaration"):
        return "exception"
    return EPCIS_BIZSTEP_MILESTONES.get(biz_step, "other")
