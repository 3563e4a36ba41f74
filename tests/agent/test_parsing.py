"""The parsers behind the voice agent, on transcriptions as Twilio produces them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from agentconnect.agent.parsing import (
    Intent,
    Money,
    Timeline,
    detect_intent,
    is_polite_decline,
    normalize,
    parse_company_size,
    parse_datetime,
    parse_decision_maker,
    parse_money,
    parse_number,
    parse_timeline,
    parse_yes_no,
    says_no_timeline,
)

# Wednesday 12 March 2025, 10:00 in New York (EDT, UTC-4).
NOW = datetime(2025, 3, 12, 14, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello . world"),
        ("It's $50,000.", "it's $50000"),
        ("about 1.5 million", "about 1.5 million"),
        ("3:30 p.m.", "3:30 pm"),
        ("50-100 people", "50 to 100 people"),
        ("I dont know", "i don't know"),
        ("Yes?! Sure...", "yes . sure"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", True),
        ("Yeah, sure.", True),
        ("Yep.", True),
        ("Sure", True),
        ("Correct.", True),
        ("That's right", True),
        ("Absolutely!", True),
        ("I am.", True),
        ("I do", True),
        ("Of course", True),
        ("No problem.", True),
        ("Okay", True),
        ("No.", False),
        ("Nope", False),
        ("Not really.", False),
        ("I'm not.", False),
        ("Nah", False),
        ("Negative", False),
        ("Absolutely not.", False),
        ("I don't think so", False),
        ("No, not at all.", False),
        ("I am not the one who decides", False),
        ("I don't know", None),
        ("I dont know", None),
        ("Not sure.", None),
        ("Maybe", None),
        ("It depends", None),
        ("You know what I mean", None),  # "know" must not read as "no"
        ("Banana", None),
        ("", None),
    ],
)
def test_parse_yes_no(text: str, expected: bool | None) -> None:
    assert parse_yes_no(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50000", 50_000),
        ("$50,000", 50_000),
        ("50k", 50_000),
        ("50 K", 50_000),
        ("about 20 grand", 20_000),
        ("1.5 million", 1_500_000),
        ("$2.5M", 2_500_000),
        ("twenty five", 25),
        ("twenty-five", 25),
        ("nineteen", 19),
        ("two hundred and fifty", 250),
        ("a hundred", 100),
        ("a thousand and five", 1_005),
        ("two thousand three hundred", 2_300),
        ("ninety nine thousand nine hundred and ninety nine", 99_999),
        ("fifty thousand dollars", 50_000),
        ("a couple of thousand", 2_000),
        ("a few hundred", 300),
        ("half a million", 500_000),
        ("a dozen", 12),
        ("one point five million", 1_500_000),
        ("zero", 0),
        # ranges give their middle, the second number's scale applying to the first
        ("50-100", 75),
        ("between 10 and 20 thousand", 15_000),
        ("10 to 20k", 15_000),
        ("500 to 2,000", 1_250),
        ("one or two", 2),  # 1.5, rounded half up
        # the first number wins
        ("3 30", 3),
        ("twenty twelve", 20),
        # no number at all
        ("I don't know", None),
        ("thousands", None),
        ("a", None),
        ("", None),
    ],
)
def test_parse_number(text: str, expected: int | None) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("$50,000", "50000", "USD"),
        ("50k", "50000", None),
        ("fifty thousand dollars", "50000", "USD"),
        ("about 20 grand", "20000", None),
        ("Yes, about $75,000 for the year.", "75000", "USD"),
        ("USD 75000", "75000", "USD"),
        ("€30,000", "30000", "EUR"),
        ("30,000 euros", "30000", "EUR"),
        ("£5k", "5000", "GBP"),
        ("around 100 thousand pounds", "100000", "GBP"),
        ("a hundred grand", "100000", None),
        ("$1.5 million", "1500000", "USD"),
        ("$99.99", "99.99", "USD"),
        ("between 10 and 20 thousand euros", "15000", "EUR"),
        ("we have about 5,000 set aside", "5000", None),
        # a number that counts something else is no amount
        ("in 3 months we'll have 50k", "50000", None),
        ("fifty", "50", None),
        # no budget is an amount of zero
        ("No budget.", "0", None),
        ("None", "0", None),
        ("Zero", "0", None),
        ("$0", "0", "USD"),
        ("We don't have one yet", "0", None),
        ("Nothing at the moment", "0", None),
    ],
)
def test_parse_money(text: str, amount: str, currency: str | None) -> None:
    assert parse_money(text) == Money(Decimal(amount), currency)


@pytest.mark.parametrize(
    "text",
    [
        "I'm not sure",
        "I don't know",
        "Yes",  # confirms a budget without an amount: the agent reads that with parse_yes_no
        "no",
        "one",  # a pronoun far more often than a budget of $1
        "6 months",
        "about 20 people",
        "",
    ],
)
def test_parse_money_finds_no_amount(text: str) -> None:
    assert parse_money(text) is None


@pytest.mark.parametrize(
    ("text", "months", "normalized"),
    [
        ("This month.", 0.6, "this month"),
        ("Next month", 0.7, "next month"),
        ("In three weeks", 0.7, "in 3 weeks"),
        ("within 6 months", 6.0, "within 6 months"),
        ("in the next six months", 6.0, "in 6 months"),
        ("in a couple of months", 2.0, "in 2 months"),
        ("a few weeks", 0.7, "in 3 weeks"),
        ("6 to 12 months", 9.0, "in 6 to 12 months"),
        ("half a year", 6.0, "in 6 months"),
        ("in a year", 12.0, "in 1 year"),
        ("over the next year", 12.0, "within 1 year"),
        ("in 10 days", 0.3, "in 10 days"),
        ("by Q2 2026", 12.6, "Q2 2026"),
        ("before the end of the quarter", 0.6, "end of this quarter"),
        ("Next quarter.", 0.7, "next quarter"),  # 1 April
        ("Q3", 3.6, "Q3"),  # 1 July
        ("sometime in the third quarter", 3.6, "Q3"),
        ("Q1", 0.0, "Q1"),  # the current quarter
        ("By the end of the year.", 9.7, "end of this year"),
        ("later this year", 9.7, "end of this year"),
        ("next year", 9.7, "next year"),
        ("early next year", 9.7, "early next year"),
        ("end of next month", 1.6, "end of next month"),
        ("In January", 9.7, "in January"),  # January 2026
        ("By March", 0.0, "by March"),  # the current month
        ("in May", 1.6, "in May"),
        ("by the end of June", 3.6, "by end of June"),
        ("in 2026", 9.7, "2026"),
        ("ASAP", 0.0, "immediately"),
        ("As soon as possible.", 0.0, "immediately"),
        ("Immediately", 0.0, "immediately"),
        ("right away", 0.0, "immediately"),
        ("No rush, maybe next year", 9.7, "next year"),
        ("Not this year, maybe next year.", 9.7, "next year"),
    ],
)
def test_parse_timeline(text: str, months: float, normalized: str) -> None:
    assert parse_timeline(text, NOW) == Timeline(months, normalized)


def test_parse_timeline_vague_but_understood() -> None:
    assert parse_timeline("Soon, hopefully.", NOW) == Timeline(None, "soon")


@pytest.mark.parametrize(
    "text",
    [
        "no timeline",
        "not sure",
        "I don't know",
        "not any time soon",
        "march",  # a verb as often as a month without a preposition
        "May",
        "",
    ],
)
def test_parse_timeline_finds_none(text: str) -> None:
    assert parse_timeline(text, NOW) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No timeline.", True),
        ("There's no rush", True),
        ("Not yet", True),
        ("Nothing planned", True),
        ("Not any time soon", True),
        ("not sure", False),
        ("next month", False),
    ],
)
def test_says_no_timeline(text: str, expected: bool) -> None:
    assert says_no_timeline(text) is expected


@pytest.mark.parametrize(
    ("text", "bucket"),
    [
        ("About 120 people.", "51-200"),
        ("just me", "1-10"),
        ("It's only me and my partner", "1-10"),
        ("over two thousand", "1000+"),
        ("over a thousand", "1000+"),
        ("1000", "201-1000"),
        ("1,001", "1000+"),
        ("twelve thousand", "1000+"),
        ("50", "11-50"),
        ("fifty", "11-50"),
        ("fifty one", "51-200"),
        ("We're a team of 8", "1-10"),
        ("It's just the two of us", "1-10"),
        ("There are 12 of us", "11-50"),
        ("around 500 employees", "201-1000"),
        ("less than 10", "1-10"),
        ("under 50", "11-50"),
        ("between 40 and 60", "11-50"),
        ("a couple of hundred", "51-200"),
        ("We have 3 offices and 120 employees", "51-200"),
        ("hundreds", "201-1000"),
        ("thousands of people", "1000+"),
    ],
)
def test_parse_company_size(text: str, bucket: str) -> None:
    assert parse_company_size(text) == bucket


@pytest.mark.parametrize("text", ["I don't know", "quite a lot", "zero", ""])
def test_parse_company_size_finds_none(text: str) -> None:
    assert parse_company_size(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", True),
        ("I am.", True),
        ("That's me", True),
        ("me", True),
        ("I'm the CEO", True),
        ("Yes, I make the decisions", True),
        ("Together with my partner", True),
        ("It's a team decision", True),
        ("I'm one of the decision makers", True),
        ("No, my boss decides", False),
        ("I'd have to check with my manager", False),
        ("Not me", False),
        ("The board does", False),
        ("No.", False),
        ("Let me think", None),
        ("I don't know", None),
    ],
)
def test_parse_decision_maker(text: str, expected: bool | None) -> None:
    assert parse_decision_maker(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tomorrow at 3pm", at(3, 13, 15)),
        ("tomorrow at 3 p.m.", at(3, 13, 15)),
        ("Tuesday at 10", at(3, 18, 10)),
        ("Next Monday morning", at(3, 17, 9)),
        ("At 2:30 pm on Friday.", at(3, 14, 14, 30)),
        ("December 3rd at 11am", at(12, 3, 11)),
        ("The 3rd of December at 11 a.m.", at(12, 3, 11)),
        ("how about the twenty third at 10 am", at(3, 23, 10)),
        ("March 14th at noon", at(3, 14, 12)),
        ("Friday afternoon", at(3, 14, 14)),
        ("tomorrow evening", at(3, 13, 18)),
        ("two thirty pm tomorrow", at(3, 13, 14, 30)),
        ("at three thirty on Monday", at(3, 17, 15, 30)),
        ("half past two on Thursday", at(3, 13, 14, 30)),
        ("quarter to four on Thursday", at(3, 13, 15, 45)),
        ("Monday at 10 o'clock", at(3, 17, 10)),
        ("Wednesday at 14:30", at(3, 19, 14, 30)),  # not today: next week's
        ("next week Tuesday at 2", at(3, 18, 14)),
        ("today at 4pm", at(3, 12, 16)),
        ("at 3", at(3, 12, 15)),  # later today
        ("at 9am", at(3, 13, 9)),  # already past today: tomorrow
        ("this afternoon", at(3, 12, 14)),
        ("January 5th at 10am", at(1, 5, 10, year=2026)),  # past this year: next year's
    ],
)
def test_parse_datetime(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text, NOW, NEW_YORK)
    assert parsed == expected
    assert parsed is not None
    assert parsed.tzinfo == NEW_YORK


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",  # a day without a time
        "next week",
        "next week at 3",
        "today at 9am",  # already past
        "February 30th at 3pm",
        "the first thing",
        "no",
        "I don't know",
        "whenever suits you",
        "",
    ],
)
def test_parse_datetime_finds_none(text: str) -> None:
    assert parse_datetime(text, NOW, NEW_YORK) is None


def test_parse_datetime_takes_naive_now_as_local_time() -> None:
    naive_now = datetime(2025, 3, 12, 10, 0)
    assert parse_datetime("at 11am", naive_now, NEW_YORK) == at(3, 12, 11)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Not interested.", Intent.NOT_INTERESTED),
        ("I'm not interested, thanks", Intent.NOT_INTERESTED),
        ("Stop calling me!", Intent.NOT_INTERESTED),
        ("Please remove me from your list", Intent.NOT_INTERESTED),
        ("Don't call me again.", Intent.NOT_INTERESTED),
        ("Don't call me back", Intent.NOT_INTERESTED),
        ("No thanks.", Intent.NOT_INTERESTED),
        ("No, thank you.", Intent.NOT_INTERESTED),
        ("It's not for us", Intent.NOT_INTERESTED),
        ("Call me later", Intent.CALL_LATER),
        ("Can you call me back next week?", Intent.CALL_LATER),
        ("Not interested right now, call me back next year", Intent.CALL_LATER),
        ("Bad time, sorry", Intent.CALL_LATER),
        ("I'm busy", Intent.CALL_LATER),
        ("I'm driving", Intent.CALL_LATER),
        ("Sorry, I'm in a meeting", Intent.CALL_LATER),
        ("Can I talk to a human?", Intent.HUMAN),
        ("I want to speak to a real person", Intent.HUMAN),
        ("Let me speak to someone please", Intent.HUMAN),
        ("Operator", Intent.HUMAN),
        ("Representative.", Intent.HUMAN),
        ("agent", Intent.HUMAN),
        ("Book a meeting", Intent.MEETING),
        ("Can we schedule a call?", Intent.MEETING),
        ("I'd like to set up a demo", Intent.MEETING),
    ],
)
def test_detect_intent(text: str, intent: Intent) -> None:
    assert detect_intent(text) is intent


@pytest.mark.parametrize(
    "text",
    [
        "I'm interested",
        "Yes, very interested",
        "no thanks, we have a budget of 10k",  # "no thanks" only as the whole answer
        "I'm a sales representative",
        "You'd need to talk to someone in finance",
        "I don't want a demo",
        "Yes",
        "About 50k",
        "",
    ],
)
def test_detect_intent_finds_none(text: str) -> None:
    assert detect_intent(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No thanks", True),
        ("No, thank you, I'm good.", True),
        ("Nope, thanks", True),
        ("Thanks", False),
        ("No thanks, but call me later", False),
    ],
)
def test_is_polite_decline(text: str, expected: bool) -> None:
    assert is_polite_decline(text) is expected
