"""The personalisation renderer: tokens, defaults, escaping, and no way out of the sandbox."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from agentconnect.delivery.renderer import (
    KNOWN_TOKENS,
    render,
    render_message,
    tokens_in,
    unknown_tokens,
)

CONTEXT = {
    "first_name": "Ada",
    "company_name": "",
    "deal_value": Decimal("12500"),
    "custom": {"plan": "pro", "nested": {"a": 1}},
    "company.name": "Northwind",
}


def test_tokens_defaults_and_spacing() -> None:
    assert render("Hi {{first_name}}", CONTEXT) == "Hi Ada"
    assert render("Hi {{ first_name | friend }}", CONTEXT) == "Hi Ada"
    assert render("At {{company_name|your company}}", CONTEXT) == "At your company"
    assert render("{{last_name}}.", CONTEXT) == "."
    assert render("{{deal_value}}", CONTEXT) == "12,500.00"
    assert render("{{custom.plan}} {{custom.none|basic}}", CONTEXT) == "pro basic"
    assert render("from {{company.name}}", CONTEXT) == "from Northwind"


def test_nested_custom_values_and_expressions_are_not_evaluated() -> None:
    assert render("{{custom.nested}}", CONTEXT) == ""
    assert render("{{first_name.__class__}}", CONTEXT) == ""
    assert render("{{ 7*7 }}", CONTEXT) == "{{ 7*7 }}"
    assert render("{% for x in y %}", CONTEXT) == "{% for x in y %}"


def test_unknown_tokens_are_named() -> None:
    assert unknown_tokens("{{first_name}} {{shoe_size}} {{custom.x}} {{shoe_size}}") == [
        "shoe_size"
    ]
    assert unknown_tokens("{{custom.}}") == ["custom."]
    assert tokens_in("{{a}}{{b|c}}") == ["a", "b"]


def test_html_bodies_escape_values_and_get_a_text_part() -> None:
    rendered = render_message(
        "Hi {{first_name}}", "<p>Dear {{first_name}} &amp; team</p>",
        {"first_name": "<script>x</script>"}, email=True,
    )  # fmt: skip
    assert rendered.html_body == "<p>Dear &lt;script&gt;x&lt;/script&gt; &amp; team</p>"
    assert rendered.body == "Dear <script>x</script> & team"
    assert rendered.subject == "Hi <script>x</script>"
    sms = render_message(None, "<p>{{first_name}}</p>", {"first_name": "A"}, email=False)
    assert (sms.body, sms.html_body) == ("<p>A</p>", None)


@given(
    st.text(max_size=200),
    st.dictionaries(st.sampled_from(sorted(KNOWN_TOKENS)), st.text(max_size=20)),
)
def test_rendering_never_fails_and_leaves_no_known_token(
    template: str, values: dict[str, str]
) -> None:
    out = render(template, values)
    for name in tokens_in(out):
        # whatever survives is text the values brought in, never an unreplaced template token
        assert "{{" in "".join(values.values()) or name not in tokens_in(template)
