"""E-mail address validation and normalisation (lower-cased)."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

# The everyday shape of an address; anything else (quoted local parts, international
# domains) goes through the full validator. Checked first because imports meet millions.
_SIMPLE = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)


def normalize_email(raw: str) -> str:
    text = raw.strip().lower()
    if len(text) <= 254 and _SIMPLE.match(text):
        return text
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ValueError(f"'{raw}' is not a valid e-mail address: {error}") from None
