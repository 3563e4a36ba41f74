"""Money on the wire: a decimal string with two places ("1250.00"), whatever the input had."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, StringConstraints

CENT = Decimal("0.01")


def two_places(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


MoneyOut = Annotated[Decimal, PlainSerializer(two_places, return_type=str)]
MoneyIn = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2),
    AfterValidator(lambda value: value + 0),  # "-0" becomes 0
]

# ISO-4217 shape (three capital letters); lower case is accepted and raised.
Currency = Annotated[
    str,
    BeforeValidator(lambda v: v.upper() if isinstance(v, str) else v),
    StringConstraints(pattern=r"^[A-Z]{3}$"),
]
