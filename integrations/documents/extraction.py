"""Reading shipping documents: bytes -> text (pypdf or OCR) -> type, references, date, milestone.

Pure functions, no database: ``integrations.documents`` stores and applies what comes out.

* ``sniff`` tells the file type from its magic bytes (the declared content type is not trusted).
* ``extract_text`` reads a PDF's text layer with pypdf; images, and PDFs without a text layer
  (their embedded page images), are read with tesseract through pytesseract. Anything that
  cannot be read raises ``ExtractionError`` with the reason (dead-lettered by the caller).
* ``extract_fields`` classifies the document by keywords, finds references by regex (container
  numbers and air waybills with their check digits validated), dates in several formats (local
  dates in the tenant's time zone) and the milestone the document proves.
* ``score`` turns what matched into a confidence in [0, 1].
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
SUPPORTED_TYPES = (PDF, PNG, JPEG, TIFF)

MAX_PAGES = 50  # pages read from one PDF
OCR_TIMEOUT_S = 120  # per image
MIN_TEXT_LAYER_CHARS = 20  # fewer characters than this on a PDF means "scanned": OCR it
NO_OCR_ENGINE = "no OCR engine available"

# Document types, and the milestone each proves (when its date is found).
BILL_OF_LADING = "bill_of_lading"
AIR_WAYBILL = "air_waybill"
PROOF_OF_DELIVERY = "proof_of_delivery"
CUSTOMS_RELEASE = "customs_release"
DOCUMENT_TYPES = (BILL_OF_LADING, AIR_WAYBILL, PROOF_OF_DELIVERY, CUSTOMS_RELEASE)
MILESTONES = {
    PROOF_OF_DELIVERY: "delivered",
    CUSTOMS_RELEASE: "customs_cleared",
    BILL_OF_LADING: "departed",  # only with a "shipped on board" date
    AIR_WAYBILL: "departed",  # only with a flight date
}


class ExtractionError(Exception):
    """The document could not be read; ``reason`` goes into the dead letter."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- file type ------------------------------------------------------------------------------


def sniff(body: bytes) -> str | None:
    """The content type told by the magic bytes, or None when not a supported document."""
    head = bytes(body[:1024])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if b"%PDF-" in head:  # some generators put junk before the header; readers accept it
        return PDF
    return None


# --- text -----------------------------------------------------------------------------------


@dataclass
class Text:
    text: str
    method: str  # "pdf_text" | "ocr" | "pdf_ocr"
    pages: int = 1


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def extract_text(body: bytes, content_type: str) -> Text:
    """The document's text; raises ExtractionError when it cannot be read."""
    kind = sniff(body) or content_type.split(";")[0].strip()
    if kind == PDF:
        return _pdf_text(body)
    if kind in (PNG, JPEG, TIFF):
        return Text(_ocr_image_bytes(body), "ocr")
    raise ExtractionError(f"unsupported document type {content_type or 'unknown'!r}")


def _pdf_text(body: bytes) -> Text:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as error:
                raise ExtractionError("encrypted PDF: cannot read it") from error
        pages = list(reader.pages[:MAX_PAGES])
        text = "\n".join((page.extract_text() or "") for page in pages)
    except ExtractionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ExtractionError(f"unreadable PDF: {error}") from error
    if len(text.strip()) >= MIN_TEXT_LAYER_CHARS:
        return Text(text, "pdf_text", len(pages))
    # No text layer: a scan. OCR the images embedded in its pages.
    images = []
    try:
        for page in pages:
            images += [item.image for item in page.images if item.image is not None]
    except Exception as error:  # pypdf raises assorted errors on broken image streams
        reason = f"PDF has no text layer and its images are unreadable: {error}"
        raise ExtractionError(reason) from error
    if not images:
        raise ExtractionError("PDF has no text layer and no images to read")
    return Text("\n".join(_ocr_image(image) for image in images), "pdf_ocr", len(pages))


def _ocr_image_bytes(body: bytes) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(body))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ExtractionError(f"unreadable image: {error}") from error
    return _ocr_image(image)


def _ocr_image(image) -> str:
    if not ocr_available():
        raise ExtractionError(NO_OCR_ENGINE)
    import pytesseract

    try:
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        return pytesseract.image_to_string(image, timeout=OCR_TIMEOUT_S)
    except pytesseract.TesseractNotFoundError as error:
        raise ExtractionError(NO_OCR_ENGINE) from error
    except RuntimeError as error:  # pytesseract's timeout
        raise ExtractionError(f"OCR failed: {error}") from error
    except pytesseract.TesseractError as error:
        raise ExtractionError(f"OCR failed: {error}") from error


# --- references -----------------------------------------------------------------------------

_LETTER_VALUES = {}
_value = 10
for _letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if _value % 11 == 0:
        _value += 1
    _LETTER_VALUES[_letter] = _value
    _value += 1


def container_check_digit(owner_serial: str) -> int:
    """ISO 6346 check digit of the first 10 characters (4 letters, 6 digits)."""
    total = 0
    for position, char in enumerate(owner_serial[:10]):
        value = _LETTER_VALUES[char] if char.isalpha() else int(char)
        total += value * (2**position)
    return total % 11 % 10


def container_valid(number: str) -> bool:
    number = re.sub(r"[\s-]", "", number.upper())
    if not re.fullmatch(r"[A-Z]{4}\d{7}", number):
        return False
    return container_check_digit(number) == int(number[10])


def awb_valid(number: str) -> bool:
    """IATA air waybill: 3-digit prefix, 7-digit serial and a check digit (serial mod 7)."""
    digits = re.sub(r"\D", "", number)
    if len(digits) != 11:
        return False
    return int(digits[3:10]) % 7 == int(digits[10])


@dataclass(frozen=True)
class Reference:
    kind: str  # a shipments ReferenceKind value
    value: str
    valid: bool | None = None  # check digit result where the kind has one

    def lookup_values(self) -> list[str]:
        """The spellings a shipment reference of this number may be stored under."""
        if self.kind == "air_waybill":
            digits = re.sub(r"\D", "", self.value)
            return [f"{digits[:3]}-{digits[3:]}", digits]
        return [self.value]

    def as_dict(self) -> dict:
        return {"kind": self.kind, "value": self.value, "valid": self.valid}


_ID = r"(?=[A-Z0-9./-]*\d)([A-Z0-9][A-Z0-9./-]{2,29}[A-Z0-9])"
_LABEL_TAIL = r"\s*(?:No\.?|Number|Nr\.?|Ref(?:erence)?\.?|ID|#)?\s*[:.#]?\s*"
_CONTAINER = re.compile(r"\b([A-Z]{3}[UJZ])[\s-]?(\d{6})[\s-]?(\d)\b")
_AWB = re.compile(r"\b(\d{3})-(\d{4})\s?(\d{4})\b")
_AWB_LABELLED = re.compile(
    r"\b(?:AWB|MAWB|HAWB|Air\s*Waybill)" + _LABEL_TAIL + r"(\d{3})[-\s]?(\d{4})\s?(\d{4})\b", re.I
)
_LABELLED = [
    ("bill_of_lading", re.compile(r"\b(?:B/L|BL\b|Bill\s+of\s+Lading)" + _LABEL_TAIL + _ID, re.I)),
    ("booking", re.compile(r"\bBooking" + _LABEL_TAIL + _ID, re.I)),
    ("purchase_order", re.compile(r"\b(?:P\.O\.|PO\b|Purchase\s+Order)" + _LABEL_TAIL + _ID, re.I)),
    (
        "tracking_number",
        re.compile(
            r"\b(?:Tracking|Consignment|Shipment|Waybill|Delivery\s+Note|Customs\s+Entry|"
            r"Entry|Declaration|MRN)" + _LABEL_TAIL + _ID,
            re.I,
        ),
    ),
]


def find_references(text: str) -> list[Reference]:
    """Every reference found, in order of appearance, each value once."""
    found: list[tuple[int, int, int, Reference]] = []  # (priority, start, end, reference)
    upper = text.upper()
    for match in _CONTAINER.finditer(upper):
        value = "".join(match.groups())
        valid = container_valid(value)
        found.append((2 if valid else 3, *match.span(), Reference("container", value, valid)))
    for priority, pattern in ((0, _AWB_LABELLED), (2, _AWB)):
        for match in pattern.finditer(text):
            prefix, a, b = match.groups()
            value = f"{prefix}-{a}{b}"
            found.append(
                (priority, *match.span(), Reference("air_waybill", value, awb_valid(value)))
            )
    for kind, pattern in _LABELLED:
        for match in pattern.finditer(text):
            value = match.group(1).upper().rstrip(".")
            found.append((1, *match.span(1), Reference(kind, value)))
    # Where two matches claim the same text or value, the stronger reading wins: a labelled
    # number over a bare one, a valid check digit over a failed one.
    seen: set[str] = set()
    spans: list[tuple[int, int]] = []
    kept: list[tuple[int, Reference]] = []
    for _priority, start, end, reference in sorted(found, key=lambda item: item[:2]):
        key = re.sub(r"\W", "", reference.value)
        if key in seen or any(start < e and s < end for s, e in spans):
            continue
        seen.add(key)
        spans.append((start, end))
        kept.append((start, reference))
    return [reference for _, reference in sorted(kept, key=lambda item: item[0])]


# --- dates ----------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_TIME = (
    r"(?:[ T,]+(?:at\s+)?(?P<hh>[01]?\d|2[0-3])[:h.](?P<mi>[0-5]\d)(?::(?P<ss>[0-5]\d))?"
    r"(?:\s*(?:hrs|h))?\s*(?P<tz>Z|UTC|GMT|[+-]\d{2}:?\d{2})?)?"
)
_DATE_PATTERNS = [
    # 2026-03-12, 2026-03-12 14:05, 2026-03-12T14:05:00+01:00
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})" + _TIME, re.I),
    # 12 Mar 2026, 12-Mar-2026, 12MAR2026, 12 March 2026 14:05
    re.compile(r"\b(?P<d>\d{1,2})[\s-]?" + _MONTH + r"[\s-]?(?P<y>\d{4})" + _TIME, re.I),
    # Mar 12, 2026 / March 12 2026
    re.compile(r"\b" + _MONTH + r"\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})" + _TIME, re.I),
    # 12/03/2026, 12.03.2026 (day first unless that cannot be)
    re.compile(r"\b(?P<a>\d{1,2})[/.](?P<b>\d{1,2})[/.](?P<y>\d{4})" + _TIME, re.I),
]


@dataclass(frozen=True)
class FoundDate:
    at: datetime  # aware
    start: int
    end: int
    has_time: bool
    text: str


def _zone(tz: str | None):
    try:
        return ZoneInfo(tz or "UTC")
    except (KeyError, ValueError):
        return UTC


def _offset(value: str):
    if value.upper() in ("Z", "UTC", "GMT"):
        return UTC
    sign = 1 if value[0] == "+" else -1
    digits = value[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def find_dates(text: str, tz: str | None = None) -> list[FoundDate]:
    """Every date (with its time of day when given), in order; local ones in ``tz``."""
    zone = _zone(tz)
    found: dict[int, FoundDate] = {}
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(d.start <= match.start() < d.end for d in found.values()):
                continue
            parts = match.groupdict()
            try:
                year = int(parts["y"])
                if parts.get("mon"):
                    month, day = _MONTHS[parts["mon"].lower().rstrip(".")], int(parts["d"])
                elif parts.get("a"):
                    a, b = int(parts["a"]), int(parts["b"])
                    day, month = (b, a) if a <= 12 < b else (a, b)
                else:
                    month, day = int(parts["m"]), int(parts["d"])
                has_time = parts.get("hh") is not None
                clock = (
                    time(int(parts["hh"]), int(parts["mi"]), int(parts["ss"] or 0))
                    if has_time
                    else time(12, 0)  # a date alone: midday local, see fields["date_only"]
                )
                zone_here = _offset(parts["tz"]) if has_time and parts.get("tz") else zone
                at = datetime.combine(datetime(year, month, day).date(), clock, tzinfo=zone_here)
            except (ValueError, KeyError):
                continue
            if not 1990 <= year <= 2100:
                continue
            found[match.start()] = FoundDate(
                at, match.start(), match.end(), has_time, match.group(0).strip()
            )
    return [found[k] for k in sorted(found)]


# --- classification -------------------------------------------------------------------------

# (pattern, weight): a title counts more than a word that may appear on any document.
_KEYWORDS: dict[str, list[tuple[re.Pattern, int]]] = {
    BILL_OF_LADING: [
        (re.compile(r"\bBILL\s+OF\s+LADING\b", re.I), 3),
        (re.compile(r"\bSEA\s*WAYBILL\b", re.I), 2),
        (re.compile(r"\bB/L\b", re.I), 1),
        (re.compile(r"\bSHIPPED\s+ON\s+BOARD\b", re.I), 1),
    ],
    AIR_WAYBILL: [
        (re.compile(r"\bAIR\s*WAYBILL\b", re.I), 3),
        (re.compile(r"\b[MH]?AWB\b"), 2),
        (re.compile(r"\bFLIGHT\b", re.I), 1),
    ],
    PROOF_OF_DELIVERY: [
        (re.compile(r"\bPROOF\s+OF\s+DELIVERY\b", re.I), 3),
        (re.compile(r"\bPOD\b"), 2),
        (re.compile(r"\bDELIVERED\b", re.I), 1),
        (re.compile(r"\bSIGNATURE\b|\bSIGNED\b", re.I), 1),
        (re.compile(r"\bRECEIVED\s+BY\b", re.I), 1),
    ],
    CUSTOMS_RELEASE: [
        (re.compile(r"\bCUSTOMS\s+RELEASE\b", re.I), 3),
        (re.compile(r"\bRELEASE\s+NOTE\b|\bCUSTOMS\s+CLEARANCE\b", re.I), 2),
        (re.compile(r"\bCLEARED\b", re.I), 1),
        (re.compile(r"\bRELEASED\b", re.I), 1),
    ],
}
STRONG_KEYWORDS = 3  # a title, or several keywords: the document names its own type


def classify(text: str) -> tuple[str, int]:
    """(document type, keyword score); ("", 0) when no keyword is found."""
    scores = {
        kind: sum(weight * len(p.findall(text)) for p, weight in patterns)
        for kind, patterns in _KEYWORDS.items()
    }
    best = max(DOCUMENT_TYPES, key=lambda kind: scores[kind])
    return (best, scores[best]) if scores[best] else ("", 0)


# Labels that put a date next to the event the document proves.
_DATE_LABELS = {
    # Not a bare "delivery" / "release": the title "PROOF OF DELIVERY" would claim the date
    # printed after it (often the issue date).
    PROOF_OF_DELIVERY: re.compile(
        r"\b(?:DELIVERED(?:[ \t]+(?:ON|AT))?|DELIVERY[ \t]+(?:DATE|TIME)|"
        r"DATE[ \t]+OF[ \t]+DELIVERY|RECEIVED[ \t]+ON|SIGNED(?:[ \t]+ON)?)\b",
        re.I,
    ),
    CUSTOMS_RELEASE: re.compile(
        r"\b(?:RELEASED(?:[ \t]+(?:ON|AT))?|RELEASE[ \t]+DATE|CLEARED(?:[ \t]+(?:ON|AT))?|"
        r"CLEARANCE[ \t]+DATE|DATE[ \t]+OF[ \t]+(?:RELEASE|CLEARANCE))\b",
        re.I,
    ),
    BILL_OF_LADING: re.compile(
        r"(?:(?:SHIPPED|LADEN|LOADED)[ \t]+ON[ \t]+BOARD(?:[ \t]+DATE)?|ON[ \t]+BOARD[ \t]+DATE)",
        re.I,
    ),
    AIR_WAYBILL: re.compile(
        r"(?:FLIGHT(?:[ \t]*/[ \t]*DATE|[ \t]+DATE)?|DEPARTURE[ \t]+DATE|EXECUTED[ \t]+ON)", re.I
    ),
}
# Words that back the milestone up (beyond the document's title).
_EVIDENCE = {
    PROOF_OF_DELIVERY: re.compile(r"\bSIGNATURE\b|\bSIGNED\b|\bRECEIVED\s+BY\b", re.I),
    CUSTOMS_RELEASE: re.compile(r"\bRELEASED\b|\bCLEARED\b", re.I),
    BILL_OF_LADING: re.compile(r"\b(?:SHIPPED|LADEN|LOADED)\s+ON\s+BOARD\b", re.I),
    AIR_WAYBILL: re.compile(r"\bFLIGHT\b", re.I),
}
LABEL_REACH = 60  # characters after a label within which its date must start


# --- the whole extraction -------------------------------------------------------------------


@dataclass
class Extraction:
    document_type: str = ""
    classified_type: str = ""  # what the keywords said (document_type may come from a hint)
    keyword_score: int = 0
    references: list[Reference] = field(default_factory=list)
    dates: list[FoundDate] = field(default_factory=list)
    milestone: str = ""
    occurred_at: datetime | None = None
    date_labelled: bool = False
    date_has_time: bool = False
    evidence: bool = False

    @property
    def check_digit_references(self) -> list[Reference]:
        return [r for r in self.references if r.valid is not None]

    def fields(self) -> dict:
        return {
            "document_type": self.document_type,
            "classified_type": self.classified_type,
            "keyword_score": self.keyword_score,
            "dates": [d.at.isoformat() for d in self.dates[:20]],
            "date_labelled": self.date_labelled,
            "date_only": self.occurred_at is not None and not self.date_has_time,
            "evidence": self.evidence,
        }


def _milestone_date(text: str, kind: str, dates: list[FoundDate]) -> tuple[FoundDate | None, bool]:
    """(the date of the proven event, whether a label placed it)."""
    label = _DATE_LABELS.get(kind)
    if label is not None:
        for match in label.finditer(text):
            for found in dates:
                if match.end() <= found.start <= match.end() + LABEL_REACH:
                    return found, True
    if kind in (PROOF_OF_DELIVERY, CUSTOMS_RELEASE) and dates:
        # No label: the latest date on the page is the best guess (issue dates come first).
        return max(dates, key=lambda d: d.at), False
    return None, False


def extract_fields(text: str, *, tz: str | None = None, type_hint: str = "") -> Extraction:
    """Type, references, dates and the proven milestone of a document's text."""
    classified, keyword_score = classify(text)
    kind = type_hint if type_hint in DOCUMENT_TYPES else classified
    result = Extraction(
        document_type=kind,
        classified_type=classified,
        keyword_score=keyword_score,
        references=find_references(text),
        dates=find_dates(text, tz),
    )
    if not kind:
        return result
    evidence = _EVIDENCE.get(kind)
    result.evidence = bool(evidence and evidence.search(text))
    found, labelled = _milestone_date(text, kind, result.dates)
    if found is not None:
        result.milestone = MILESTONES[kind]
        result.occurred_at = found.at
        result.date_labelled = labelled
        result.date_has_time = found.has_time
    elif kind in (PROOF_OF_DELIVERY, CUSTOMS_RELEASE):
        result.milestone = MILESTONES[kind]  # proven, but when is for ops to say
    return result


def score(extraction: Extraction, *, shipment_matched: bool) -> float:
    """Confidence in [0, 1] that the proposed update is right: the sum of what matched.

    ====================================================  ======
    the keywords name the document type (a title, or       0.25
      several keywords: keyword score >= 3)
      (only weak keywords agree with the type)             0.15
    a reference identifies exactly one existing shipment   0.35
    the milestone's date: labelled, with a time of day     0.20
      labelled, date only (applied at 12:00 local)         0.15
      unlabelled (the latest date of a POD/release)        0.10
    container / AWB numbers present, all check digits ok   0.10
    the milestone is backed up (signature, "released",     0.10
      "shipped on board", a flight)
    ====================================================  ======

    A document type that only came from the uploader's hint earns nothing for keywords. A
    check digit that fails earns nothing (and that number is not used to find the shipment).
    So with the default threshold of 0.95 only a document that names its type, matches a
    shipment, has a labelled date and a valid container or AWB number is applied unseen.
    """
    total = 0.0
    if extraction.document_type and extraction.classified_type == extraction.document_type:
        total += 0.25 if extraction.keyword_score >= STRONG_KEYWORDS else 0.15
    if shipment_matched:
        total += 0.35
    if extraction.occurred_at is not None:
        if extraction.date_labelled:
            total += 0.20 if extraction.date_has_time else 0.15
        else:
            total += 0.10
    checked = extraction.check_digit_references
    if checked and all(r.valid for r in checked):
        total += 0.10
    if extraction.evidence:
        total += 0.10
    return round(min(max(total, 0.0), 1.0), 4)
