"""Template rendering for the 201 body, and SMS fragment counting (stored as billable_units at creation, since this
thin API has no sending step to count them later)."""

from __future__ import annotations

import math
import re

from notify_pipelines.notifications.errors import Refused

_PLACEHOLDER = re.compile(r"\(\(([^()]+)\)\)")
# GSM 03.38 basic set plus the extension characters (which count double).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€")


def render(content: str, personalisation: dict | None, *, strict: bool = True) -> str:
    """Fill ((placeholders)) (case-insensitive names); a missing one is a 400 naming the placeholder (when strict;
    otherwise it is left as written, for showing what was stored)."""
    values = {str(k).lower(): v for k, v in (personalisation or {}).items()}
    missing: list[str] = []

    def fill(match: re.Match) -> str:
        name = match.group(1).split("??")[0].strip()
        value = values.get(name.lower())
        if value is None:
            missing.append(name)
            return match.group(0)
        if isinstance(value, list):
            return "\n".join(f"* {item}" for item in value)
        return str(value)

    body = _PLACEHOLDER.sub(fill, content)
    if missing and strict:
        raise Refused(f"Missing personalisation: {', '.join(dict.fromkeys(missing))}")
    return body


def sms_fragments(body: str) -> int:
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in body):
        length = sum(2 if c in _GSM_EXTENDED else 1 for c in body)
        return 1 if length <= 160 else math.ceil(length / 153)
    length = len(body)
    return 1 if length <= 70 else math.ceil(length / 67)


# C0 controls and DEL, bar tab, line feed and carriage return (which templates and addresses use): a NUL cannot be
# stored in PostgreSQL text, and the others have no meaning in a message.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character_in(personalisation, path: str = "") -> str | None:
    """Where the first control character is in personalisation's keys and values, e.g. "U+0000 in name", or None."""
    if isinstance(personalisation, str):
        found = _CONTROL_CHARACTER.search(personalisation)
        return f"U+{ord(found.group()):04X} in {path or 'a value'}" if found else None
    if isinstance(personalisation, dict):
        for key, value in personalisation.items():
            where = f"{path}.{key}" if path else str(key)
            if (found := control_character_in(str(key), f"the name {where!r}")) or (
                    found := control_character_in(value, where)):
                return found
    elif isinstance(personalisation, list):
        for index, value in enumerate(personalisation):
            if found := control_character_in(value, f"{path}[{index}]"):
                return found
    return None


SMS_CHAR_LIMIT = 918  # reference: SMS_CHAR_COUNT_LIMIT
