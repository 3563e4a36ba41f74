"""Phone numbers in E.164."""

from __future__ import annotations

import re

import phonenumbers

_E164 = re.compile(r"^\+([1-9]\d{6,14})$")


def _known_country_code(digits: str) -> bool:
    return any(int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for n in (1, 2, 3))


def to_e164(raw: str, default_region: str = "US") -> str:
    """Normalise a phone number to E.164 or raise ValueError with a readable reason."""
    text = raw.strip()
    if not text:
        raise ValueError("phone number is empty")
    # A number already in E.164 with a real country code is kept as it is: parsing it with
    # phonenumbers costs ~30 µs, which dominates a large import.
    match = _E164.match(text)
    if match and _known_country_code(match.group(1)):
        return text
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"'{raw}' is not a phone number ({error._msg})") from None
    if parsed.extension:
        raise ValueError(f"'{raw}' has an extension; store the number without it")
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"'{raw}' is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
