"""Input helpers shared by the services' partial updates."""

from __future__ import annotations

import pytest

from agentconnect.errors import InvalidInput
from agentconnect.kit.schemas import refuse_nulls


def test_a_field_left_out_or_given_a_value_passes() -> None:
    refuse_nulls({"name": "x", "notes": None}, ("name", "url"))


def test_each_field_set_to_null_is_named() -> None:
    with pytest.raises(InvalidInput) as refused:
        refuse_nulls({"name": None, "url": None, "notes": None}, ("name", "url"))
    assert str(refused.value) == "these fields cannot be null: name, url"
    assert [error["loc"] for error in refused.value.errors] == [["body", "name"], ["body", "url"]]
