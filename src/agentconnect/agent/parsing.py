"""Understanding a callee's transcribed answer: yes or no, numbers, money, timelines, company
size, meeting times and the call-level intents (not interested, call later, a human, a meeting).

Every function is pure (the current time is a parameter), so an agent built on them is
deterministic. The input is speech-to-text output: case, punctuation and number formatting vary
("$50,000", "50k", "fifty thousand dollars", "about 20 grand"). Each parser therefore normalises
the text first and then reads words, with number words turned into digits where that helps.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

# --------------------------------------------------------------------------- normalisation

# Transcriptions sometimes drop apostrophes; the patterns below are written with them.
_CONTRACTIONS = {
    "dont": "don't",
    "doesnt": "doesn't",
    "didnt": "didn't",
    "cant": "can't",
    "wont": "won't",
    "isnt": "isn't",
    "arent": "aren't",
    "havent": "haven't",
    "hasnt": "hasn't",
    "im": "i'm",
    "ive": "i've",
    "youre": "you're",
    "thats": "that's",
    "theres": "there's",
    "its": "it's",
}
_CONTRACTION = re.compile(r"\b(" + "|".join(_CONTRACTIONS) + r")\b")
_CLAUSE_BREAK = " . "


def normalize(text: str) -> str:
    """Lower-case words separated by single spaces. Clause punctuation becomes a standalone
    "." so that phrases never match across "Yes. I'm not sure"; "$", "€", "£", "%", decimal
    points and the colon of "2:30" are kept, thousands separators are dropped."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", text)  # "p.m." -> "pm"
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # "50,000" -> "50000"
    text = re.sub(r"(?<=\d)\s*-\s*(?=\d)", " to ", text)  # "50-100" -> "50 to 100"
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", _CLAUSE_BREAK, text)  # keep only decimal points
    text = re.sub(r"[,;!?]", _CLAUSE_BREAK, text)
    text = re.sub(r"(?<!\d):|:(?!\d)", " ", text)  # keep only the colon of a clock time
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # quotes, not apostrophes
    text = re.sub(r"[^a-z0-9$€£%'.: ]", " ", text)
    text = _CONTRACTION.sub(lambda m: _CONTRACTIONS[m.group(1)], text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"(?: \.(?= |$))+", " .", text)  # one break for "?!" or ". ."
    return text.strip(" .")


_TOKEN = re.compile(r"[$€£%:.]|\d+(?:\.\d+)?|[a-z]+(?:'[a-z]+)*")


def _tokens(normalized: str) -> list[str]:
    return _TOKEN.findall(normalized)


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


# --------------------------------------------------------------------------- yes / no

_UNSURE = (
    r"\b(?:not sure|unsure|not certain|don't know|do not know|dunno|no idea|not a clue|maybe|"
    r"perhaps|possibly|it depends|depends|hard to say|can't say|no clue)\b"
)
# One alternation, tried left to right at each position: the negative phrases that begin with
# a positive word ("absolutely not", "i am not") come before that word, and the positive
# phrases that begin with "no" ("no problem") before "no".
_YES_OR_NO = re.compile(
    r"\b(?:"
    r"(?P<no>absolutely not|definitely not|certainly not|of course not|i am not|i'm not|"
    r"i do not|i don't|we do not|we don't|we are not|we're not|i have not|i haven't|"
    r"we have not|we haven't|it is not|it's not|that's not|that is not|not really|not at all|"
    r"not yet|not me|no way|nope|nah|negative|never)"
    r"|(?P<yes>no problem|no worries|not a problem|why not|no doubt|yes|yeah|yea|yep|yup|ya|"
    r"yah|sure|surely|correct|that's right|that is right|right(?! now| away)|absolutely|"
    r"definitely|certainly|of course|indeed|affirmative|exactly|okay|ok|alright|all right|"
    r"i am|i do|we do|we are|i have|we have|that's me|that is me|uh huh|mhm|go ahead|"
    r"sounds good|i think so|i guess so|i believe so|i would|i'd love|i'd like)"
    r"|(?P<bare_no>no|not)"
    r")\b"
)


def parse_yes_no(text: str) -> bool | None:
    """True for an affirmative answer, False for a negative one, None when it is unclear
    ("I don't know", "not sure", "maybe") or there is no answer at all."""
    normalized = normalize(text)
    if _has(_UNSURE, normalized):
        return None
    match = _YES_OR_NO.search(normalized)
    if match is None:
        return None
    # The first phrase decides: people answer first and qualify after ("yes, no problem",
    # "no, not really").
    return match.lastgroup == "yes"


# --------------------------------------------------------------------------- numbers

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4,
    "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
# Scale words that only mean a scale straight after a number: "50k", "20 grand", "2m".
_SUFFIX_SCALES = {
    "k": 1_000, "grand": 1_000, "m": 1_000_000, "mil": 1_000_000, "mm": 1_000_000,
    "mn": 1_000_000, "bn": 1_000_000_000,
}  # fmt: skip
# Loose quantities people say instead of a number: "a couple of thousand", "a few weeks".
_ROUGH_COUNTS = {"couple": 2, "few": 3, "several": 3}
_ZERO, _ONE = Decimal(0), Decimal(1)
_DIGITS = re.compile(r"\d+(?:\.\d+)?")
_NUMBER_KINDS = ("digits", "unit", "teen", "tens", "hundred", "rough", "dozen", "half")


@dataclass(frozen=True)
class _Span:
    """A number read from tokens[start:end]."""

    start: int
    end: int
    value: Decimal
    scale: int  # the scale word that ended it (1 if none): "20k" has 1000


def _read_number(tokens: list[str], start: int) -> _Span | None:
    """Read the number that starts at tokens[start], if any: digits with an optional scale
    ("50 k", "1.5 million") or number words ("two hundred and fifty", "a couple of thousand").
    `kind` is the previous word's role and decides what may follow it."""
    total, current = _ZERO, None
    kind, last_scale = "start", 0
    index = start
    while index < len(tokens):
        word = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        words_may_follow = kind in ("start", "hundred", "scale", "and")
        if _DIGITS.fullmatch(word) and kind == "start":
            current, kind = Decimal(word), "digits"
        elif word in _UNITS and (words_may_follow or kind == "tens"):
            current, kind = (current or _ZERO) + _UNITS[word], "unit"
        elif word in _TEENS and words_may_follow:
            current, kind = (current or _ZERO) + _TEENS[word], "teen"
        elif word in _TENS and words_may_follow:
            current, kind = (current or _ZERO) + _TENS[word], "tens"
        elif word == "hundred" and kind in ("a", "digits", "unit", "teen", "rough"):
            current, kind = (current or _ONE) * 100, "hundred"
        elif word == "dozen" and kind in ("a", "digits", "unit", "teen", "rough"):
            current, kind = (current or _ONE) * 12, "dozen"
        elif word in _SCALES or (word in _SUFFIX_SCALES and kind != "start"):
            scale = _SCALES.get(word) or _SUFFIX_SCALES[word]
            if kind not in (*_NUMBER_KINDS, "a") or (last_scale and scale >= last_scale):
                break
            total += (current if current is not None else 1) * scale
            current, kind, last_scale = None, "scale", scale
        elif word in ("a", "an") and kind == "start" and following in _SCALED_BY_A:
            current, kind = _ONE, "a"
        elif word in _ROUGH_COUNTS and kind in ("start", "a"):
            current, kind = Decimal(_ROUGH_COUNTS[word]), "rough"
            if following == "of":
                index += 1
        elif word == "half" and following in ("a", "an") and kind == "start":
            current, kind = Decimal("0.5"), "half"
            index += 1
        elif word == "and" and kind in ("hundred", "scale") and following in _NUMBER_WORDS:
            kind = "and"
        elif word == "point" and kind in ("unit", "digits") and following in _UNITS:
            fraction = ""
            while index + 1 < len(tokens) and tokens[index + 1] in _UNITS:
                index += 1
                fraction += str(_UNITS[tokens[index]])
            current = (current or _ZERO) + Decimal("0." + fraction)
            kind = "digits"
        else:
            break
        index += 1
    if kind in ("start", "a", "half"):
        return None
    value = total + (current or _ZERO)
    return _Span(start, index, value, last_scale or 1)


_SCALED_BY_A = {"hundred", "dozen", "couple", "few", "grand", *_SCALES}
_NUMBER_WORDS = {*_UNITS, *_TEENS, *_TENS}


def _number_spans(tokens: list[str]) -> list[_Span]:
    spans: list[_Span] = []
    index = 0
    while index < len(tokens):
        span = _read_number(tokens, index)
        if span is None:
            index += 1
        else:
            spans.append(span)
            index = span.end
    return spans


def _with_range(tokens: list[str], spans: list[_Span], position: int) -> _Span:
    """The span at `position`, or the middle of the range it opens: "50 to 100", "between 10
    and 20 thousand" (the second number's scale applies to the first), "one or two"."""
    first = spans[position]
    if position + 1 >= len(spans):
        return first
    second = spans[position + 1]
    between = tokens[first.end : second.start]
    opens_between = first.start > 0 and tokens[first.start - 1] == "between"
    if not (between in (["to"], ["or"]) or (between == ["and"] and opens_between)):
        return first
    low = first.value
    if first.scale == 1 and second.scale > 1 and low * second.scale <= second.value:
        low *= second.scale
    return _Span(first.start, second.end, (low + second.value) / 2, second.scale)


def _as_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def parse_number(text: str) -> int | None:
    """The first number said, as an integer: "50,000", "50k", "1.5 million", "twenty five",
    "two hundred and fifty", "a couple of thousand". A range gives its middle."""
    tokens = _tokens(normalize(text))
    spans = _number_spans(tokens)
    if not spans:
        return None
    return _as_int(_with_range(tokens, spans, 0).value)


def _format_number(value: Decimal) -> str:
    return str(_as_int(value)) if value == value.to_integral_value() else str(value.normalize())


def _words_to_digits(tokens: list[str]) -> list[str]:
    """The tokens with every number replaced by its digits: "in three weeks" -> "in 3 weeks",
    "three thirty" -> "3 30" (a unit followed by tens starts a new number)."""
    out: list[str] = []
    index = 0
    for span in _number_spans(tokens):
        out.extend(tokens[index : span.start])
        out.append(_format_number(span.value))
        index = span.end
    out.extend(tokens[index:])
    return out


# --------------------------------------------------------------------------- money


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str | None  # ISO 4217 code, None when the callee named no currency


_CURRENCIES = {
    "$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "buck": "USD", "bucks": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "£": "GBP", "gbp": "GBP", "pound": "GBP", "pounds": "GBP", "quid": "GBP", "sterling": "GBP",
}  # fmt: skip
# A number followed by one of these counts something other than money.
_NOT_MONEY_UNITS = {
    "people", "person", "persons", "employees", "staff", "users", "seats", "licenses",
    "day", "days", "week", "weeks", "month", "months", "year", "years", "quarter", "quarters",
    "hour", "hours", "minutes", "percent", "%", "am", "pm", "o'clock", "st", "nd", "rd", "th",
}  # fmt: skip
_NO_BUDGET = (
    r"\b(?:no budget|no money|no funds|no funding|zero|none|nothing|nil|not a (?:penny|cent|dime)|"
    r"(?:don't|do not) have (?:a budget|one|any budget|any money|the budget|anything)|"
    r"haven't got (?:a budget|one|any)|there isn't (?:one|a budget|any)|"
    r"there's no budget|there is no budget|not budgeted)\b"
)


def parse_money(text: str) -> Money | None:
    """An amount of money: "$50,000", "50k", "fifty thousand dollars", "about 20 grand",
    "between 10 and 20 thousand euros" (the middle). "no budget", "none" and "zero" are an
    amount of 0. None when no amount is named or the callee is unsure."""
    tokens = _tokens(normalize(text))
    currency = next((_CURRENCIES[t] for t in tokens if t in _CURRENCIES), None)
    amount = _money_amount(tokens)
    if amount is not None:
        return Money(amount, currency)
    normalized = " ".join(tokens)
    if _has(_UNSURE, normalized) or not _has(_NO_BUDGET, normalized):
        return None
    return Money(Decimal(0), currency)


def _money_amount(tokens: list[str]) -> Decimal | None:
    spans = _number_spans(tokens)
    plausible: list[_Span] = []
    for position in range(len(spans)):
        span = _with_range(tokens, spans, position)
        after = tokens[span.end] if span.end < len(tokens) else ""
        if after in _NOT_MONEY_UNITS:
            continue
        before = tokens[span.start - 1] if span.start > 0 else ""
        if before in _CURRENCIES or after in _CURRENCIES:
            return span.value
        # A bare small number is more likely "one" as a pronoun than a budget of $1.
        if span.scale > 1 or span.value >= 10 or span.value == 0:
            plausible.append(span)
    return plausible[0].value if plausible else None


# --------------------------------------------------------------------------- timelines


@dataclass(frozen=True)
class Timeline:
    months: float | None  # from now until the date meant; None for a vague "soon"
    text: str  # the phrase, normalised: "in 3 weeks", "next quarter", "end of this year"


_MONTH_NAMES = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTH_ABBREVIATIONS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_WORDS = "|".join(_MONTH_NAMES)
_DAYS_PER_MONTH = 365.25 / 12
_UNIT_MONTHS = {"day": 1 / _DAYS_PER_MONTH, "week": 7 / _DAYS_PER_MONTH, "month": 1.0,
                "quarter": 3.0, "year": 12.0}  # fmt: skip
_QUARTER_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": 4}

# Phrases whose time words must not count: "not this year", "not any time soon".
_NEGATED_TIME = r"\bnot (?:any ?time soon|soon|this (?:week|month|quarter|year)|right now|yet)\b"
_NO_TIMELINE = (
    r"\b(?:no (?:timeline|time ?frame|deadline|set date|date|rush|hurry|plans?|urgency)|"
    r"not any ?time soon|nothing (?:planned|set|scheduled|decided)|not yet|haven't decided|"
    r"have not decided|undecided|not decided|no specific time|not planning)\b"
)
_TIMELINE_ASAP = (
    r"\b(?:asap|as soon as (?:possible|we can)|immediately|right away|straight away|urgently|"
    r"right now|yesterday|today)\b"
)
_TIMELINE_VAGUE = r"\b(?:soon|shortly|near future)\b"


def parse_timeline(text: str, now: datetime) -> Timeline | None:
    """When the callee hopes to have something in place, relative to `now`: "next month", "in
    three weeks", "within 6 months", "Q3", "by the end of the year", "in January", "asap".
    `months` is until the start of a named period ("next quarter", "in March") or until its
    end when the callee says so ("this month", "by the end of the year"). None when no time is
    given, including "no timeline" and "not sure" (see `says_no_timeline`)."""
    normalized = re.sub(_NEGATED_TIME, " ", normalize(text))
    spoken = " ".join(_words_to_digits(_tokens(_spell_fractions(normalized))))
    today = now.date()
    for reader in (_read_duration, _read_period, _read_quarter, _read_month, _read_year):
        timeline = reader(spoken, today)
        if timeline is not None:
            return timeline
    if _has(_TIMELINE_ASAP, spoken):
        return Timeline(0.0, "immediately")
    vague = re.search(_TIMELINE_VAGUE, spoken)
    if vague:
        return Timeline(None, vague.group(0))
    return None


def says_no_timeline(text: str) -> bool:
    """The callee says there is no timeline ("no rush", "not yet", "nothing planned"), as
    opposed to not answering or not knowing. Try `parse_timeline` first: "no rush, maybe next
    year" names a time."""
    return _has(_NO_TIMELINE, normalize(text))


def _spell_fractions(normalized: str) -> str:
    # Fractions of a unit the number reader does not handle.
    for phrase, replacement in (
        (r"\b(?:a|one) year and a half\b", "18 months"),
        (r"\bhalf a year\b", "6 months"),
        (r"\b(?:a|one) month and a half\b", "1.5 months"),
        (r"\b(?:the )?coming weeks\b", "3 weeks"),
        (r"\b(?:the )?coming months\b", "3 months"),
    ):
        normalized = re.sub(phrase, replacement, normalized)
    return normalized


def _months_until(today: date, target: date) -> float:
    return round(max(0, (target - today).days) / _DAYS_PER_MONTH, 1)


_DURATION = re.compile(
    r"\b(?:(?P<prep>in|within|inside|over|under|during) )?(?:(?:the )?(?:next|coming) )?"
    r"(?:about |around |roughly |maybe |approximately )?(?P<low>\d+(?:\.\d+)?|a|an|one)"
    r"(?: (?:to|or) (?P<high>\d+(?:\.\d+)?))? (?P<unit>day|week|month|quarter|year)s?\b"
    # "over the next year": one of the unit
    r"|\b(?P<prep_next>in|within|inside|over|during) the (?:next|coming) "
    r"(?P<unit_next>day|week|month|quarter|year)\b"
)


def _read_duration(spoken: str, today: date) -> Timeline | None:
    match = _DURATION.search(spoken)
    if match is None:
        return None
    low, high = match["low"], match["high"]
    unit = match["unit"] or match["unit_next"]
    first = float(low) if low and low[0].isdigit() else 1.0
    # A range counts as its middle: "6 to 12 months" is 9 months away.
    count = first if high is None else (first + float(high)) / 2
    preposition = "in" if (match["prep"] or match["prep_next"]) in (None, "in") else "within"
    amount = f"{first:g}" if high is None else f"{first:g} to {float(high):g}"
    plural = "" if amount == "1" else "s"
    return Timeline(round(count * _UNIT_MONTHS[unit], 1), f"{preposition} {amount} {unit}{plural}")


def _period_bounds(unit: str, today: date, offset: int) -> tuple[date, date]:
    """First and last day of the week/month/quarter/year `offset` periods from today's."""
    if unit == "week":
        start = today - timedelta(days=today.weekday()) + timedelta(weeks=offset)
        return start, start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    first_month = (today.month - 1) // months * months + offset * months
    year, month0 = divmod(first_month, 12)
    start = date(today.year + year, month0 + 1, 1)
    end_year, end_month0 = divmod(month0 + months, 12)
    end = date(start.year + end_year, end_month0 + 1, 1) - timedelta(days=1)
    return start, end


def _point_in(start: date, end: date, where: str) -> date:
    if where == "end":
        return end
    if where == "middle":
        return start + (end - start) / 2
    return start


_PREPOSITION = r"(?:\b(?P<prep>in|by|before|until|around|during|for) )?"
_WHERE = (
    r"(?:(?:the )?\b(?P<where>end|middle|start|beginning|early|mid|late|later)(?: of)?"
    r"(?: the)? )?"
)


def _where(word: str | None, default: str) -> str:
    return {
        "end": "end", "late": "end", "later": "end",
        "middle": "middle", "mid": "middle",
        "start": "start", "beginning": "start", "early": "start",
    }.get(word or "", default)  # fmt: skip


def _read_period(spoken: str, today: date) -> Timeline | None:
    match = re.search(
        _PREPOSITION
        + _WHERE
        + r"\b(?P<which>this|next|the|the following|the coming) (?P<unit>week|month|"
        r"quarter|year)\b",
        spoken,
    )
    if match is None:
        return None
    which = "this" if match["which"] in ("this", "the") else "next"
    # Something due "this month" is due by its end; "next month" starts counting at its start.
    where = _where(match["where"], "end" if which == "this" else "start")
    start, end = _period_bounds(match["unit"], today, 0 if which == "this" else 1)
    prefix = ""
    if match["where"]:
        prefix = {"end": "end of ", "middle": "middle of ", "start": "early "}[where]
    return Timeline(
        _months_until(today, _point_in(start, end, where)),
        f"{prefix}{which} {match['unit']}",
    )


def _read_quarter(spoken: str, today: date) -> Timeline | None:
    match = re.search(
        _PREPOSITION
        + _WHERE
        + r"\b(?:q ?(?P<digit>[1-4])|(?:the )?(?P<word>first|second|third|fourth|last) "
        r"quarter)(?: (?:of )?(?P<year>20\d\d))?\b",
        spoken,
    )
    if match is None:
        return None
    quarter = int(match["digit"]) if match["digit"] else _QUARTER_WORDS[match["word"]]
    year = int(match["year"]) if match["year"] else today.year
    start = date(year, 3 * quarter - 2, 1)
    end = _period_bounds("quarter", start, 0)[1]
    if match["year"] is None and end < today:
        start, end = date(year + 1, start.month, 1), date(year + 1, end.month, end.day)
    where = _where(match["where"], "start")
    prefix = "end of " if where == "end" else ""
    suffix = f" {match['year']}" if match["year"] else ""
    return Timeline(
        _months_until(today, _point_in(start, end, where)), f"{prefix}Q{quarter}{suffix}"
    )


def _read_month(spoken: str, today: date) -> Timeline | None:
    match = re.search(
        _PREPOSITION + _WHERE + rf"\b(?P<month>{_MONTH_WORDS})\b(?: (?P<year>20\d\d))?",
        spoken,
    )
    if match is None:
        return None
    # "may" and "march" are also ordinary words; take them only with a cue that a date follows.
    if match["month"] in ("may", "march") and not (
        match["prep"] or match["where"] or match["year"]
    ):
        return None
    month = _MONTH_NAMES[match["month"]]
    year = int(match["year"]) if match["year"] else today.year
    if match["year"] is None and month < today.month:
        year += 1
    start = date(year, month, 1)
    end = date(year, month, calendar.monthrange(year, month)[1])
    where = _where(match["where"], "start")
    prefix = {"end": "end of ", "middle": "mid ", "start": ""}[where]
    preposition = match["prep"] or "in"
    suffix = f" {year}" if match["year"] else ""
    return Timeline(
        _months_until(today, _point_in(start, end, where)),
        f"{preposition} {prefix}{match['month'].capitalize()}{suffix}",
    )


def _read_year(spoken: str, today: date) -> Timeline | None:
    match = re.search(_PREPOSITION + _WHERE + r"\b(?P<year>20\d\d)\b", spoken)
    if match is None:
        return None
    year = int(match["year"])
    start, end = date(year, 1, 1), date(year, 12, 31)
    where = _where(match["where"], "end" if year == today.year else "start")
    prefix = "end of " if where == "end" else ""
    return Timeline(_months_until(today, _point_in(start, end, where)), f"{prefix}{year}")


# --------------------------------------------------------------------------- company size

_SIZE_BUCKETS = ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"))
_SOLO = (
    r"\b(?:just me|only me|myself|me and (?:my|a) \w+|solo|one man band|one person|sole trader|"
    r"freelancer?|a handful)\b"
)
_HEADCOUNT_WORDS = {"people", "employees", "staff", "persons", "workers", "us", "heads", "fte"}
_MORE_THAN = r"\b(?:over|more than|above|upwards of|north of|at least|in excess of)$"
_LESS_THAN = r"\b(?:under|less than|fewer than|below|not even)$"


def parse_company_size(text: str) -> str | None:
    """The company's headcount as a bucket: "1-10", "11-50", "51-200", "201-1000", "1000+".
    "about 120 people" -> "51-200", "just me" -> "1-10", "over two thousand" -> "1000+"."""
    normalized = normalize(text)
    if _has(_SOLO, normalized):
        return "1-10"
    if _has(r"\b(?:tens of thousands|thousands)\b", normalized):
        return "1000+"
    if _has(r"\bhundreds\b", normalized):
        return "201-1000"
    headcount = _headcount(_tokens(normalized))
    if headcount is None or headcount < 1:
        return None
    for upper, bucket in _SIZE_BUCKETS:
        if headcount <= upper:
            return bucket
    return "1000+"


def _counts_people(tokens: list[str], span: _Span) -> bool:
    return bool(_HEADCOUNT_WORDS & set(tokens[span.end : span.end + 2]))


def _headcount(tokens: list[str]) -> Decimal | None:
    spans = _number_spans(tokens)
    if not spans:
        return None
    # Prefer the number that counts people: "3 offices and 120 employees".
    position = next(
        (i for i, span in enumerate(spans) if _counts_people(tokens, span)),
        0,
    )
    span = _with_range(tokens, spans, position)
    before = " ".join(tokens[max(0, span.start - 3) : span.start])
    if _has(_MORE_THAN, before):
        return span.value + 1
    if _has(_LESS_THAN, before):
        return span.value - 1
    return span.value


# --------------------------------------------------------------------------- decision maker

_SHARED_DECISION = (
    r"\b(?:together|jointly|with my (?:partner|co ?founder|business partner)|"
    r"me and|one of (?:them|the decision makers)|part of the decision|i'm involved|i am involved|"
    r"we decide|team decision|joint decision|partly|partially|in part)\b"
)
_OWN_DECISION = (
    r"^(?:yes |yeah )?(?:it's |that's )?me$"
    r"|\b(?:that's me|that is me|it's me|that would be me|i make (?:the|that|those|all)|"
    r"i decide|i have the final say|i sign off|my (?:call|decision)|i own|the buck stops|"
    r"(?:i'm|i am) the (?:owner|founder|ceo|boss|director|decision maker|md|president|one))\b"
)
_SOMEONE_ELSE = (
    r"\b(?:my (?:boss|manager|director|ceo|supervisor|superior|head of)|someone else|"
    r"somebody else|the board|not me|not my (?:call|decision)|above my pay ?grade|"
    r"(?:have|need) to (?:ask|check with|run it by|talk to))\b"
)


def parse_decision_maker(text: str) -> bool | None:
    """Whether the callee makes (or shares) the buying decision."""
    normalized = normalize(text)
    if _has(_SHARED_DECISION, normalized):
        return True
    if _has(_SOMEONE_ELSE, normalized):
        return False
    if _has(_OWN_DECISION, normalized):
        return True
    return parse_yes_no(text)


# --------------------------------------------------------------------------- meeting times

_WEEKDAYS = {name.lower(): index for index, name in enumerate(calendar.day_name)}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_PARTS_OF_DAY = {"morning": 9, "lunchtime": 12, "lunch": 12, "afternoon": 14, "evening": 18,
                 "tonight": 18, "night": 18}  # fmt: skip
_MONTH_ALTERNATIVES = "|".join([*_MONTH_NAMES, *_MONTH_ABBREVIATIONS])
_DAY = r"(?P<day>\d{1,2})(?: (?:st|nd|rd|th))?"
_YEAR = r"(?: (?P<year>20\d\d))?"


def parse_datetime(text: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """A meeting time, as an aware datetime in `tz` after `now`: "tomorrow at 3pm", "Tuesday at
    10", "next Monday morning", "at 2:30 pm on Friday", "December 3rd at 11am". A day without
    a time (or a time of day) is unclear and gives None, as does a time already past.

    Weekdays mean their next occurrence after today ("next Monday" too); a bare hour from 1 to
    7 is in the afternoon; morning is 09:00, lunchtime 12:00, afternoon 14:00, evening 18:00.
    A naive `now` is taken as wall-clock time in `tz`."""
    local_now = now.astimezone(tz) if now.tzinfo else now.replace(tzinfo=tz)
    spoken = " ".join(_words_to_digits(_ordinals_to_digits(_tokens(normalize(text)))))
    day, rest, day_was_named = _meeting_day(spoken, local_now.date())
    if day_was_named and day is None:
        return None  # "February 30th"
    if day is None and _has(r"\bnext (?:week|month)\b", spoken):
        return None  # a week is not a day
    clock = _meeting_clock(rest, part_of_day=_part_of_day(spoken))
    if clock is None:
        return None
    if day is None:
        day = local_now.date()
    meeting = datetime.combine(day, clock, tzinfo=tz)
    if meeting <= local_now:
        if day_was_named:
            return None  # "today at 9am" when it is already past 9
        meeting = datetime.combine(day + timedelta(days=1), clock, tzinfo=tz)
    return meeting


def _ordinals_to_digits(tokens: list[str]) -> list[str]:
    """ "twenty third" -> "23 rd", "first" -> "1 st", so that dates read like "3rd"."""
    out: list[str] = []
    for token in tokens:
        if token in _ORDINALS:
            value = _ORDINALS[token]
            if out and out[-1] in ("twenty", "thirty") and value < 10:
                value += _TENS[out.pop()]
            out.extend([str(value), "th"])
        else:
            out.append(token)
    return out


def _meeting_day(spoken: str, today: date) -> tuple[date | None, str, bool]:
    """The day named in `spoken` (None if none), the text without it, and whether a day was
    named at all (an impossible "February 30th" is named but gives no day)."""
    for reader in (_relative_day, _weekday, _calendar_day):
        found = reader(spoken, today)
        if found is not None:
            day, match = found
            rest = spoken[: match.start()] + " " + spoken[match.end() :]
            return day, rest, True
    return None, spoken, False


def _relative_day(spoken: str, today: date) -> tuple[date | None, re.Match[str]] | None:
    match = re.search(
        r"\b(?:(?P<after>day after tomorrow)|tomorrow|today|tonight|this (?=morning|afternoon|"
        r"evening))",
        spoken,
    )
    if match is None:
        return None
    if match["after"]:
        return today + timedelta(days=2), match
    offset = 1 if match.group(0) == "tomorrow" else 0
    return today + timedelta(days=offset), match


def _weekday(spoken: str, today: date) -> tuple[date | None, re.Match[str]] | None:
    names = "|".join(_WEEKDAYS)
    match = re.search(rf"\b(?:(?:next|this|coming|on) )?(?P<name>{names})s?\b", spoken)
    if match is None:
        return None
    target = _WEEKDAYS[match["name"]]
    if _has(r"\bnext week\b", spoken):
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
        return monday + timedelta(days=target), match
    ahead = (target - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead), match


def _calendar_day(spoken: str, today: date) -> tuple[date | None, re.Match[str]] | None:
    months = _MONTH_ALTERNATIVES
    match = (
        re.search(rf"\b(?P<month>{months}) (?:the )?{_DAY}\b{_YEAR}", spoken)
        or re.search(rf"\b(?:the )?{_DAY} (?:of )?(?P<month>{months})\b{_YEAR}", spoken)
        # "the 3rd", but not "the first thing in the morning"
        or re.search(r"\b(?:on )?the (?P<day>\d{1,2}) (?:st|nd|rd|th)\b(?! thing)", spoken)
    )
    if match is None:
        return None
    groups = match.groupdict()
    day_number = int(groups["day"])
    try:
        if groups.get("month") is None:
            # "the 3rd": this month's, or next month's when it has passed.
            day = date(today.year, today.month, day_number)
            if day < today:
                next_month = _period_bounds("month", today, 1)[0]
                day = next_month.replace(day=day_number)
            return day, match
        month_word = groups["month"]
        month = _MONTH_NAMES.get(month_word) or _MONTH_ABBREVIATIONS[month_word]
        year = int(groups["year"]) if groups.get("year") else today.year
        day = date(year, month, day_number)
        if groups.get("year") is None and day < today:
            day = date(year + 1, month, day_number)
        return day, match
    except ValueError:
        return None, match


def _part_of_day(spoken: str) -> str | None:
    part = re.search(r"\b(morning|lunchtime|lunch|afternoon|evening|tonight|night)\b", spoken)
    return part.group(1) if part else None


def _meeting_clock(spoken: str, part_of_day: str | None) -> time | None:
    if _has(r"\b(?:noon|midday)\b", spoken):
        return time(12, 0)
    hour_minute = _spoken_clock(spoken)
    if hour_minute is None:
        return time(_PARTS_OF_DAY[part_of_day], 0) if part_of_day else None
    hour, minute, meridiem = hour_minute
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    elif hour < 12 and part_of_day:
        hour += 0 if part_of_day == "morning" else 12
    elif 1 <= hour <= 7:
        hour += 12  # nobody books a meeting at 3 in the morning
    if not (0 <= hour <= 23 and 0 <= minute <= 59) or hour == 0:
        return None
    return time(hour, minute)


def _spoken_clock(spoken: str) -> tuple[int, int, str | None] | None:
    """(hour, minute, "am"/"pm"/None) from "3 pm", "2 : 30 pm", "3 30 pm", "half past 2",
    "quarter to 4", "14 : 30", "at 10", "at 3 30", "10 o'clock"."""
    if match := re.search(r"\b(\d{1,2})(?: ?:? ?(\d{2}))? ?(am|pm)\b", spoken):
        return int(match[1]), int(match[2] or 0), match[3]
    if match := re.search(r"\b(half|quarter) (past|after|to) (\d{1,2})\b", spoken):
        hour = int(match[3])
        if match[2] == "to":
            return hour - 1, 45, None
        return hour, 30 if match[1] == "half" else 15, None
    if match := re.search(r"\b(\d{1,2}) ?: ?(\d{2})\b", spoken):
        return int(match[1]), int(match[2]), None
    at_hour = r"\b(?:at|around|about|say|for) (\d{1,2})(?: (\d{2}))?\b(?! st| nd| rd| th)"
    if match := re.search(at_hour, spoken):
        return int(match[1]), int(match[2] or 0), None
    if match := re.search(r"\b(\d{1,2}) o'clock\b", spoken):
        return int(match[1]), 0, None
    return None


# --------------------------------------------------------------------------- intents


class Intent(StrEnum):
    NOT_INTERESTED = "not_interested"
    CALL_LATER = "call_later"
    HUMAN = "human"
    MEETING = "meeting"


_NEVER_CALL = (
    r"\b(?:stop calling|quit calling|don't (?:ever )?call|do not call|never call|remove me|"
    r"take me off|unsubscribe|leave me alone|lose my number|don't contact|do not contact)\b"
)
_HUMAN = (
    r"\b(?:(?:talk|speak|chat) (?:to|with)|put me through to|transfer me to|connect me (?:to|with)"
    r"|get me) (?:a |an |the |your )?(?:real |actual |live )?(?:human|human being|person|"
    r"representative|rep|operator|agent|manager|supervisor|salesperson|sales person)\b"
    r"|\b(?:talk|speak) (?:to|with) (?:someone|somebody)(?: real)?(?: please| now)?(?= \.|$)"
    r"|\b(?:real person|live person|real human|live agent|human agent|transfer me|put me through)\b"
    r"|^(?:an? |the )?(?:human|person|operator|representative|agent)(?: please)?$"
)
_MEETING = (
    r"\b(?:book|schedule|set up|setup|arrange|organi[sz]e|fix) (?:a |an |the |in |up )?"
    r"(?:quick |short |follow up |proper )?(?:meeting|demo|demonstration|call|appointment|"
    r"session|time to talk|chat)\b"
    r"|\b(?:want|like|love|get|see|do|have) (?:a |an |to see a )?(?:quick |short )?"
    r"(?:demo|demonstration)\b"
    r"|\b(?:meet|a meeting) with (?:one of )?(?:your|a|the) (?:specialists?|team|sales)\b"
)
_CALL_BACK = (
    r"\b(?:call|ring|phone|try|reach) (?:me |us )?(?:back|later|again|another time|"
    r"some other time|another day|tomorrow|next week|in an hour)\b"
)
_NOT_INTERESTED = (
    r"\b(?:not interested|no interest|not for (?:me|us)|(?:don't|do not) (?:need|want) "
    r"(?:it|this|that|your|anything|any)|we're (?:all )?set|we are (?:all )?set)\b"
)
_BUSY = (
    r"\b(?:bad|not a good|inconvenient|awkward|terrible|busy) (?:time|moment)\b"
    r"|\b(?:i'm|i am|we're|we are)(?: a bit| quite| really| very| kind of| so| just)? "
    r"(?:busy|driving|in a meeting|at work|with a (?:customer|client|patient)|on the road|"
    r"in the car)\b"
    r"|\bbusy (?:right )?now\b|\bbusy at the moment\b|\bcan(?:'t|not) (?:talk|speak)\b"
    r"|\bdriving\b|\blater please\b"
)
_NEGATION_BEFORE = r"\b(?:don't|do not|not|no|never|no need to|doesn't|won't)(?: \w+){0,2} $"


def is_polite_decline(text: str) -> bool:
    """The whole answer is a polite no: "No thanks.", "No, thank you, I'm good." """
    words = normalize(text).replace(" .", "")
    return (
        re.fullmatch(
            r"(?:no|nah|nope)(?: no)? (?:thanks|thank you)"
            r"(?: (?:very much|anyway|though|i'm good|we're good|i'm fine|bye|goodbye))*",
            words,
        )
        is not None
    )


def detect_intent(text: str) -> Intent | None:
    """What the callee wants from the call as a whole, whatever was asked. A request never to
    be called wins; a request to be called back wins over a plain "not interested" (they asked
    for a callback); being busy does not."""
    normalized = normalize(text)
    if _has(_NEVER_CALL, normalized):
        return Intent.NOT_INTERESTED
    if _unnegated(_HUMAN, normalized):
        return Intent.HUMAN
    if _unnegated(_MEETING, normalized):
        return Intent.MEETING
    if _has(_CALL_BACK, normalized):
        return Intent.CALL_LATER
    if _has(_NOT_INTERESTED, normalized) or is_polite_decline(text):
        return Intent.NOT_INTERESTED
    if _has(_BUSY, normalized):
        return Intent.CALL_LATER
    return None


def _unnegated(pattern: str, normalized: str) -> bool:
    """The pattern matches somewhere without a negation just before it ("I don't need a demo")."""
    for match in re.finditer(pattern, normalized):
        if not _has(_NEGATION_BEFORE, normalized[: match.start()]):
            return True
    return False
