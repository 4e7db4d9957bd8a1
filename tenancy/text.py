"""What PostgreSQL can store: text without NUL characters (and no lone surrogates, which no
UTF-8 encoder accepts), JSON of a sane depth. Checked at the door, with the field named."""

from __future__ import annotations

from typing import Any

from tenancy.errors import DomainError

MAX_JSON_DEPTH = 32


class UnstorableText(DomainError):
    code = "invalid_text"


class TooDeep(DomainError):
    code = "too_deep"


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """``text`` made storable (NUL and unpaired surrogates become U+FFFD), for reasons and
    positions that quote what a caller sent."""
    if storable(text):
        return text
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def check_text(value: object, field: str) -> None:
    """UnstorableText (400, naming ``field``) when ``value`` is text PostgreSQL refuses."""
    if isinstance(value, str) and not storable(value):
        raise UnstorableText(
            "Text must not contain NUL (\\u0000) or unpaired surrogate characters.", field=field
        )


def check_document(
    document: Any, *, max_depth: int = MAX_JSON_DEPTH, path: str = "", text: bool = True
) -> None:
    """Walk a decoded JSON document: depth at most ``max_depth`` and (``text``) every key and
    string value storable. The first problem is raised with its path (``stops[2].name``)."""
    stack: list[tuple[Any, str, int]] = [(document, path, 1)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, dict | list) and depth > max_depth:
            raise TooDeep(f"JSON nested deeper than {max_depth} levels.", field=where or "body")
        if isinstance(value, dict):
            for key, item in value.items():
                inner = f"{where}.{key}" if where else str(key)
                if text:
                    check_text(key, inner)
                stack.append((item, inner, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif text:
            check_text(value, where or "body")
