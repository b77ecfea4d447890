"""Recipient validation and the facts stored with a notification: phone numbers, email addresses, postal addresses.

Errors are pydantic custom errors, so a bad recipient is one 400 entry naming the field and why, never the value.

SMS rate multipliers (our documented map, in the spirit of the reference's international billing rates): the
number of UK-priced fragments one international fragment costs. UK and Crown Dependencies 1; the listed
neighbouring/high-volume countries 2; everywhere else 3.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic_core import PydanticCustomError

RATE_MULTIPLIER_BY_PREFIX = {
    "44": 1,  # UK and the Crown Dependencies (Jersey, Guernsey, Isle of Man)
    "353": 2, "33": 2, "49": 2, "34": 2, "39": 2, "31": 2, "32": 2, "41": 2, "351": 2, "48": 2, "1": 2,
}
DEFAULT_RATE_MULTIPLIER = 3
CROWN_DEPENDENCIES = {"IM", "JE", "GG"}
_PHONE_PUNCTUATION = re.compile(r"[\s()\-.\u2010-\u2015]")


@dataclass(frozen=True)
class PhoneNumber:
    raw: str
    normalised: str  # E.164 digits without '+', e.g. 447700900123
    phone_prefix: str
    international: bool
    rate_multiplier: int


_NOT_VALID = "Number is not valid – double check the phone number you entered"
_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "Not a valid country prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "Not enough digits",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "Not enough digits",
    phonenumbers.NumberParseException.TOO_LONG: "Too many digits",
}


def _phone_error(message: str) -> PydanticCustomError:
    return PydanticCustomError("phone_number", message)


def parse_phone_number(raw: str) -> PhoneNumber:
    number = _PHONE_PUNCTUATION.sub("", raw)
    if number.startswith("00"):
        number = "+" + number[2:]
    digits = number[1:] if number.startswith("+") else number
    if not (digits.isascii() and digits.isdigit()):
        raise _phone_error("Must not contain letters or symbols")
    if not number.startswith("+") or digits.startswith("44"):
        return _uk_number(raw, digits)
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise _phone_error(_PARSE_ERRORS.get(exc.error_type, _NOT_VALID)) from None
    if not phonenumbers.is_valid_number(parsed):
        raise _phone_error(_NOT_VALID)
    prefix = str(parsed.country_code)
    return PhoneNumber(
        raw=raw,
        normalised=f"{prefix}{parsed.national_number}",
        phone_prefix=prefix,
        international=True,
        rate_multiplier=RATE_MULTIPLIER_BY_PREFIX.get(prefix, DEFAULT_RATE_MULTIPLIER),
    )


def _uk_number(raw: str, digits: str) -> PhoneNumber:
    # The reference's UK rule (notifications-utils): a mobile is 10 national digits starting with 7.
    national = digits[2:] if digits.startswith("44") else digits
    national = national.removeprefix("0")
    if not national.startswith("7"):
        raise _phone_error("Not a UK mobile number")
    if len(national) > 10:
        raise _phone_error("Too many digits")
    if len(national) < 10:
        raise _phone_error("Not enough digits")
    return PhoneNumber(
        raw=raw, normalised="44" + national, phone_prefix="44", international=_is_crown_dependency(national[:7]),
        rate_multiplier=1,
    )


@functools.lru_cache(maxsize=65_536)
def _is_crown_dependency(first_seven: str) -> bool:
    # libphonenumber's ranges for Jersey, Guernsey and the Isle of Man are at most 5 national digits deep, so the
    # first 7 digits decide; caching on them avoids a full parse per request.
    return phonenumbers.region_code_for_number(phonenumbers.parse(f"+44{first_seven}000", None)) in CROWN_DEPENDENCIES


# Reference: requests to these recipients are answered as usual but neither stored nor sent (for services' tests).
SIMULATED_PHONE_NUMBERS = frozenset({"447700900000", "447700900111", "447700900222"})
SIMULATED_EMAIL_ADDRESSES = frozenset({
    "simulate-delivered@notifications.service.gov.uk",
    "simulate-delivered-2@notifications.service.gov.uk",
    "simulate-delivered-3@notifications.service.gov.uk",
})


def normalise_email(raw: str) -> str:
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError:
        raise PydanticCustomError("email_address", "Not a valid email address") from None


# ---- Postal addresses (reference §6.5 letter validation) -----------------------------------------------------------

MIN_ADDRESS_LINES, MAX_ADDRESS_LINES = 3, 7
_UK_POSTCODE = re.compile(r"^(GIR0AA|[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][ABD-HJLNP-UW-Z]{2}|BFPO[0-9]{1,4})$")
UK_NAMES = {"united kingdom", "uk", "great britain", "england", "scotland", "wales", "northern ireland"}
EUROPE = {
    "albania", "andorra", "austria", "belarus", "belgium", "bosnia and herzegovina", "bulgaria", "croatia", "cyprus",
    "czechia", "czech republic", "denmark", "estonia", "faroe islands", "finland", "france", "georgia", "germany",
    "gibraltar", "greece", "greenland", "hungary", "iceland", "ireland", "italy", "kosovo", "latvia",
    "liechtenstein", "lithuania", "luxembourg", "malta", "moldova", "monaco", "montenegro", "netherlands",
    "north macedonia", "norway", "poland", "portugal", "romania", "russia", "san marino", "serbia", "slovakia",
    "slovenia", "spain", "sweden", "switzerland", "turkey", "ukraine", "vatican city",
}
REST_OF_WORLD = {
    "united states", "usa", "canada", "mexico", "brazil", "argentina", "chile", "colombia", "peru", "jamaica",
    "australia", "new zealand", "india", "pakistan", "bangladesh", "sri lanka", "china", "hong kong", "japan",
    "south korea", "singapore", "malaysia", "thailand", "vietnam", "philippines", "indonesia", "south africa",
    "nigeria", "kenya", "ghana", "egypt", "morocco", "israel", "united arab emirates", "saudi arabia", "qatar",
}


@dataclass(frozen=True)
class PostalAddress:
    lines: tuple[str, ...]
    international: bool
    postage_zone: str | None  # europe / rest-of-world for international addresses, None for the UK


def postal_address(personalisation: dict) -> PostalAddress:
    """Address lines address_line_1..7 from personalisation; last line a UK postcode or a known country."""
    lowered = {str(k).lower(): v for k, v in personalisation.items()}
    lines = []
    for i in range(1, 10):
        value = lowered.get(f"address_line_{i}")
        if value is not None and str(value).strip():
            lines.append(str(value).strip())
    if "postcode" in lowered and str(lowered["postcode"]).strip():  # the reference's older field
        lines.append(str(lowered["postcode"]).strip())
    if len(lines) < MIN_ADDRESS_LINES:
        raise PydanticCustomError("address", "Address must be at least 3 lines")
    if len(lines) > MAX_ADDRESS_LINES:
        raise PydanticCustomError("address", "Address must be no more than 7 lines")
    last = lines[-1].lower().strip(" .")
    if last in UK_NAMES:
        lines, last = lines[:-1], lines[-2].lower()
    if _UK_POSTCODE.match(re.sub(r"\s", "", last.upper())):
        return PostalAddress(tuple(lines), international=False, postage_zone=None)
    if last in EUROPE:
        return PostalAddress(tuple(lines), international=True, postage_zone="europe")
    if last in REST_OF_WORLD:
        return PostalAddress(tuple(lines), international=True, postage_zone="rest-of-world")
    raise PydanticCustomError("address", "Last line of address must be a real UK postcode or another country")
