"""Pure parsers of the carrier/partner standards: X12 214, EDIFACT IFTSTA, DCSA T&T, GS1 EPCIS.

No database access. Each module parses one standard and declares its ``FORMAT`` (see
``parsers.base.Format``); ``integrations.formats`` registers them with the other inbound
formats and dispatches. Parsers only ever raise ``ParseError``.
"""

from .base import Format, NormalizedEvent, ParseContext, ParseError, ParseResult

__all__ = ["Format", "NormalizedEvent", "ParseContext", "ParseError", "ParseResult"]
