"""Intent detection in what a contact says: purchase signals, objections, disinterest.

The built-in detector works on phrases: each intent has patterns (the company may add its own),
a match is dropped when a negation governs it ("not interested in a demo" is no demo request),
and confidence grows with the strength of the phrase and with repeated evidence. It reads only
the contact's words; what the agent says is never evidence. `IntentDetector` is the interface a
model-based detector would implement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

POSITIVE = (
    "budget_confirmed",
    "timeline_defined",
    "pricing_interest",
    "demo_request",
    "decision_maker",
)
NEGATIVE = ("objection_budget", "objection_timing", "objection_competitor", "not_interested")
INTENTS = POSITIVE + NEGATIVE

# (pattern, strength). Patterns are regular expressions over lower-cased text with simple
# quotes; \b anchors keep "no" from matching inside "know".
_BUILT_IN: dict[str, list[tuple[str, float]]] = {
    "budget_confirmed": [
        (
            r"(?:[£$€]|\b(?:usd|eur|gbp|aud|cad) ?)\d[\d,.]*k?\b[^.?!]{0,30}?\b(?:set aside|allocated|approved|budgeted|ring-?fenced|earmarked|available|signed off)\b",
            0.9,
        ),
        (
            r"\b(?:ring-?fenced|allocated|set aside|earmarked|budgeted|approved) (?:about |around |roughly |up to )?(?:[£$€]|\b(?:usd|eur|gbp|aud|cad) ?)?\d[\d,.]*k?\b",
            0.9,
        ),
        (
            r"\bthere(?:'s| is) (?:the |enough )?(?:money|budget|funding|cash) for\b|\b(?:grant|funding|budget) (?:came|has come|went) through\b",
            0.85,
        ),
        (
            r"\bbudget(?:'s| is| was| has been| got| now| already)*(?: been)? (?:approved|allocated|signed off|confirmed|secured|set aside|in place|sorted|ready|there|available|green-?lit)\b",
            0.95,
        ),
        (
            r"\b(?:have|got|has|with) (?:the |a |an |our )?(?:approved |allocated |dedicated )?budget\b(?! for (?:it|this) yet)",
            0.8,
        ),
        (
            r"\b(?:budget|funds?|funding|money|cash)\b(?:\W+(?!(?:not|no|never|isn't|wasn't|hasn't|haven't|aren't|won't)\b)[\w']+){0,3}?\W+(?:approved|allocated|set aside|earmarked|ring-?fenced|secured|signed off|sorted|in place|released)\b",
            0.85,
        ),
        (r"\b(?:funds?|funding|money|cash)(?: is| are|'s)? (?:available|there|ready)\b", 0.85),
        (
            r"\b(?:finance|cfo|procurement|the board)(?: team)? (?:has |have )?(?:approved|signed off|greenlit|green-lit|okayed|ok'd)\b",
            0.9,
        ),
        (
            r"\b(?:approved|allocated|earmarked|set aside|secured) (?:the |a |our )?(?:budget|funds|funding|money|spend)\b",
            0.9,
        ),
        (
            r"\b(?:p\.?o\.?|purchase order)(?: is|'s| has been)? (?:ready|approved|raised|issued|cut|signed)\b",
            0.9,
        ),
        (r"\bline item\b", 0.7),
        (
            r"\b(?:budget|money|cost|price)(?:'s| is)(?: not|n't) (?:a|an|the) (?:issue|problem|concern|blocker)\b",
            0.85,
        ),
        (r"\bwe can afford\b", 0.75),
    ],
    "timeline_defined": [
        (
            r"\b(?:pick|picking|choose|choosing|select|selecting|signing|deciding|decide on|sign off)\b[^.?!]{0,30}?\b(?:on|by|before|this|next)\W+(?:\w+\W+){0,2}?(?:(?:mon|tues|wednes|thurs|fri)day|week|month|tomorrow)\b",
            0.85,
        ),
        (
            r"\b(?:up and running|live|launched|in place|rolled out|done)\b[^.?!]{0,20}?\b(?:before|by|for)\b[^.?!]{0,10}?\b(?:black friday|christmas|new year|easter|year[- ]end|fy ?\d+|the holidays|peak season)\b",
            0.85,
        ),
        (
            r"\b(?:start|begin|kick ?off|launch|go live|be live|roll (?:it )?out|onboard|sign|decide|make the (?:final )?(?:call|decision)|buy|purchase|implement|switch over|up and running|handling|live|in place|have (?:it|this) (?:live|running))\b[^.?!]{0,50}?\b(?:by|before|within|on|in|at|from|during|the|first|second|last|early|late|end of|mid|next|this)\W+(?:\w+\W+){0,3}?(?:week|wks?|weeks|month|months|quarter|q[1-4]|(?:mon|tues|wednes|thurs|fri)day|january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|\d{1,2}(?:st|nd|rd|th)|\d+ ?(?:days|weeks|wks|months))\b",
            0.85,
        ),
        (
            r"\b(?:by|before|within|in) (?:the )?(?:end of (?:the )?)?(?:next |this )?(?:week|month|quarter|year|q[1-4]|\d+ (?:days|weeks|months))\b",
            0.7,
        ),
        (
            r"\b(?:mid|early|late|end of)-?(?:january|february|march|april|may|june|july|august|september|october|november|december|q[1-4]|the month|the quarter|next month)\b",
            0.7,
        ),
        (r"\b(?:next|this) (?:week|month|quarter)\b", 0.6),
        (r"\b(?:deadline|go-live|go live date|launch date|target date|cut-?over)\b", 0.75),
        (r"\basap\b|\bas soon as possible\b|\bright away\b|\bimmediately\b", 0.7),
        (r"\bq[1-4]\b", 0.55),
    ],
    "pricing_interest": [
        (
            r"\bwhat (?:are|would|will) we (?:be )?looking at\b|\b(?:setup|set-up|onboarding|monthly|annual) (?:fee|cost|price)s?\b",
            0.85,
        ),
        (r"\bhow much\b", 0.9),
        (
            r"\bwhat(?:'s| is| are| does| do)? (?:the |your )?(?:price|pricing|cost|costs|rate|rates|fee|fees)\b",
            0.95,
        ),
        (
            r"\b(?:price|pricing|prices|cost|costs|quote|quotation|estimate|price list|rate card|plans and pricing|tiers?)\b",
            0.65,
        ),
        (
            r"\b(?:send|share|get|give|email|forward)(?: over| across| through)? (?:me |us )?(?:a |the |your )?(?:quote|pricing|price|price list|proposal|estimate|costings?)\b",
            0.9,
        ),
        (r"\bwhat (?:would|will|does|do|did)\b[^.?!]{0,40}?\b(?:cost|set us back|run us)\b", 0.9),
        (r"\bper (?:seat|user|month|licen[cs]e)\b", 0.75),
        (
            r"\b(?:discounts?|cheaper (?:plan|option|tier|package)|annual plan|volume pricing|something (?:smaller|cheaper))\b",
            0.75,
        ),
    ],
    "demo_request": [
        (
            r"\b(?:demo|demonstration|walk-?through|trial|pilot|proof of concept|poc|test drive|sandbox)\b",
            0.75,
        ),
        (
            r"\b(?:set up|schedule|book|arrange|hop on|jump on|have|get) (?:a |an |another )?(?:call|meeting|chat|zoom|teams call|session|time)\b",
            0.8,
        ),
        (r"\b(?:show|walk) (?:me|us) (?:how|through|around|the product|it)\b", 0.85),
        (r"\b(?:can|could|would) (?:u|you) show (?:me|us)\b", 0.9),
        (r"\b(?:like|love|want|keen|need) to see (?:how|it|the|a|what)\b", 0.8),
        (r"\b(?:can|could) (?:we|you) (?:meet|talk|chat|speak)\b", 0.7),
        (r"\bsee (?:it|the product|the platform) in action\b", 0.9),
        (r"\b(?:free|trial) account\b", 0.85),
        (r"\bsend (?:me |us )?(?:a |an )?(?:calendar|meeting) (?:invite|link)\b", 0.9),
        (
            r"\b(?:available|free) (?:on |this |next )?(?:monday|tuesday|wednesday|thursday|friday|tomorrow)\b",
            0.6,
        ),
    ],
    "decision_maker": [
        (
            r"\bi (?:make|take) the (?:final )?(?:call|decision)\b|\bfinal sign-?off\b|\bi(?:'m| am) the one (?:signing|who signs|deciding|who decides|approving|who approves)\b",
            0.9,
        ),
        (
            r"\bi(?:'m| am) (?:the |the final |the main )?(?:decision[- ]maker|one who decides|one making the call|budget holder|approver|final say|one who signs)\b",
            0.95,
        ),
        (r"\b(?:it's|it is|that's|that is) my (?:call|decision)\b", 0.9),
        (
            r"\bi (?:sign off|approve|make the (?:call|decision)|decide|own the budget|hold the budget|have (?:the )?(?:final say|authority|sign-?off))\b",
            0.9,
        ),
        (r"\bi can (?:sign|approve|authori[sz]e|green-?light)\b", 0.85),
        (r"\bi(?:'ll| will) (?:sign|approve)\b", 0.7),
        (r"\bas (?:the )?(?:ceo|founder|owner|cfo|coo|head of|vp|director|md)\b", 0.6),
        (
            r"\bup to me\b|\bmy budget\b|\bi own (?:it|this|that|the (?:budget|decision|purchase|line item))\b",
            0.8,
        ),
        (
            r"\b(?:the )?buck stops with me\b|\b(?:goes|go|comes) through me\b|\bme deciding\b|\bmy sign-?off\b",
            0.9,
        ),
        (
            r"\bi(?:'d| would| will|'ll)? be the one (?:signing|deciding|approving|who signs|who decides)\b|\bthe one who (?:signs|decides|approves)\b",
            0.9,
        ),
        (
            r"\bi(?:'m| am) the (?:md|ceo|owner|founder|co-?founder|coo|cfo|managing director|president|budget owner)\b",
            0.7,
        ),
    ],
    "objection_budget": [
        (
            r"\bbudget (?:got|just got|has been|was|'s been) (?:cut|slashed|frozen|pulled|reduced)\b|\b(?:spend|spending)(?: is| has been|'s)? frozen\b|\bcan't stretch to\b",
            0.9,
        ),
        (
            r"\bbudget (?:hasn't|has not|wasn't|was not|isn't|is not|won't be) (?:been )?(?:signed off|approved|allocated|confirmed|agreed)\b",
            0.85,
        ),
        (
            r"\b(?:too|very|way too|bit|a bit|rather|quite) (?:expensive|pricey|costly|steep|much)\b",
            0.9,
        ),
        (r"\b(?:no|zero|little|limited|tight|tiny|frozen|small) budget\b", 0.9),
        (
            r"\b(?:don't|do not|dont|doesn't|haven't|have not|didn't|hasn't) (?:have|got|get)? ?(?:the |a |any |enough )?(?:budget|funds|funding|money)\b",
            0.9,
        ),
        (r"\b(?:can't|cannot|can not|couldn't|won't) afford\b", 0.95),
        (
            r"\bbudget (?:is|was|'s|has been) (?:cut|frozen|gone|spent|exhausted|tight|slashed|used up|not approved|rejected|denied)\b",
            0.9,
        ),
        (r"\b(?:over|above|outside|beyond|exceeds?) (?:our|my|the) budget\b", 0.9),
        (r"\bout of (?:our|my) (?:price range|budget|league)\b", 0.9),
        (
            r"\b(?:cost|price|pricing)(?:'s| is| was) (?:a |the )?(?:problem|issue|concern|blocker|dealbreaker|deal breaker|too high)\b",
            0.85,
        ),
        (r"\b(?:spending|budget|hiring) freeze\b", 0.9),
        (r"\bcheaper (?:option|alternative|elsewhere)\b", 0.7),
        (r"\bno money\b", 0.85),
        (
            r"\b(?:numbers|maths|math|sums|economics)(?: just)? (?:don't|do not|doesn't|won't) (?:work|add up|stack up)\b",
            0.9,
        ),
        (
            r"\b(?:can't|cannot|couldn't) justify (?:the |that |this )?(?:cost|price|spend|expense|outlay)\b",
            0.9,
        ),
        (
            r"\b(?:money|budget|funds?|funding|cash)(?: just| simply)? (?:isn't|is not|aren't|are not|wasn't) there\b",
            0.9,
        ),
        (
            r"\b(?:double|twice|triple|three times|way more than|more than) (?:what )?(?:we|i) (?:were expecting|expected|budgeted|pay|can pay|want to pay|can spend)\b",
            0.85,
        ),
    ],
    "objection_timing": [
        (
            r"\b(?:paused|on pause|frozen|on ice|on hold) until\b|\b(?:ask|try|call|contact|ping) (?:me|us) (?:again )?in\b|\bflat out\b|\bwon't be (?:this|until|before)\b",
            0.85,
        ),
        (r"\buntil (?:the )?(?:new year|next year|spring|summer|autumn|fall|winter|q[1-4])\b", 0.7),
        (r"\b(?:not|isn't|is not) (?:a |the )?(?:good|right|best|great) (?:time|moment)\b", 0.9),
        (
            r"\bbad timing\b|\btiming (?:is|isn't|is not) (?:bad|off|right|great)\b|\btiming is (?:just )?wrong\b",
            0.85,
        ),
        (
            r"\b(?:maybe|perhaps|possibly|try|revisit|circle back|check back|reach out|come back|follow up|talk|ping me|contact me) (?:again )?(?:in|next|later|after)\b[^.?!]{0,25}?\b(?:year|quarter|months?|spring|summer|autumn|fall|winter|q[1-4]|january|february|march|april|may|june|july|august|september|october|november|december|holidays)\b",
            0.85,
        ),
        (
            r"\b(?:reach out|get back|come back|try (?:me|us)|call (?:me|us|back)|contact (?:me|us)|check in|follow up|revisit|circle back|ping (?:me|us))\b[^.?!]{0,25}?\b(?:after|once|when|later)\b",
            0.85,
        ),
        (
            r"\bnot (?:right )?now\b|\bnot at the moment\b|\bnot this (?:year|quarter|month)\b|\bnot yet\b|\bnot until\b",
            0.8,
        ),
        (
            r"\bnot for (?:at least |another )?(?:a|an|\d+|a few|several) (?:year|months?|quarters?|weeks)\b",
            0.85,
        ),
        (
            r"\bnot (?:a |our )?(?:priority|focus)\b|\b(?:low|lower) priority\b|\bon (?:the )?back burner\b|\bon hold\b|\bparked\b",
            0.85,
        ),
        (
            r"\bstretched (?:too )?thin\b|\b(?:can't|cannot|won't) take on\b[^.?!]{0,30}?\b(?:yet|right now|at the moment)\b",
            0.8,
        ),
        (r"\bnot (?:looking|planning|going|able) to\b[^.?!]{0,40}?\b(?:before|until|till)\b", 0.85),
        (
            r"\b(?:too busy|snowed under|in the middle of (?:a|an|our)|mid-?(?:migration|reorg|restructure|merger|audit))\b",
            0.75,
        ),
        (
            r"\b(?:later this year|next year|next quarter|after (?:the )?(?:holidays|summer|new year|migration|merger|audit|reorg))\b",
            0.65,
        ),
        (r"\bwon't (?:decide|look at this|revisit|be ready) (?:until|before)\b", 0.9),
    ],
    "objection_competitor": [
        (
            r"\balready (?:set up|sorted|covered|kitted out) with\b|\b(?:dev|it|engineering|tech|ops) team (?:built|wrote|knocked together|cobbled together|hacked together|made|has built)\b",
            0.85,
        ),
        (
            r"\b(?:current|existing) (?:provider|vendor|supplier|system|tool|solution|platform)\b",
            0.7,
        ),
        (
            r"\b(?:already|just|recently) (?:use|using|signed|went|chose|picked|bought|have|switched|committed|renewed)\b",
            0.7,
        ),
        (
            r"\b(?:happy|satisfied|locked in|under contract|in a contract|tied in|stuck) with\b",
            0.85,
        ),
        (
            r"\b(?:we|i) (?:use|run on|are on|went with|chose|picked|signed with|renewed with|switched to) (?:hubspot|salesforce|pipedrive|zoho|marketo|mautic|outreach|salesloft|close|freshsales|monday|dynamics|intercom|another|a different|an? (?:other|alternative))\b",
            0.9,
        ),
        (
            r"\b(?:built|building|build|have) (?:our|an?) (?:own|in-house|internal|homegrown|home-grown)\b",
            0.9,
        ),
        (r"\bin-?house\b|\bhome-?grown\b|\bour own (?:tool|system|solution|thing|platform)\b", 0.8),
        (r"\b(?:another|a different|other) (?:vendor|provider|supplier|solution|tool)\b", 0.75),
        (
            r"\blocked (?:in|into)\b|\b(?:embedded|entrenched|invested|tied) (?:in|into)\b|\bmid-?(?:rollout|implementation|contract)\b",
            0.85,
        ),
        (
            r"\b(?:switching|changing|moving)(?: (?:providers?|vendors?|tools?|systems?))? (?:isn't|is not|isnt) (?:on the cards|an option|on the table|happening)\b",
            0.9,
        ),
        (
            r"\b(?:not|no plans?|no intention) (?:looking |planning |going )?to (?:change|switch|swap|move) (?:providers?|vendors?|suppliers?|systems?|tools?|platforms?)\b",
            0.9,
        ),
        (r"\b(?:competitor|competition|alternative)\b", 0.5),
        (
            r"\b(?:hubspot|salesforce|pipedrive|zoho|marketo|mautic|outreach|salesloft|freshsales|dynamics 365)\b",
            0.6,
        ),
    ],
    "not_interested": [
        (
            r"\b(?:don't|do not|never) (?:call|text|email|contact|message|ring) (?:me|us|this number)\b|\bstop (?:ringing|phoning|bothering)\b",
            0.95,
        ),
        (r"\bnot (?:really |at all |that |very |remotely )?interested\b", 0.95),
        (r"\b(?:no|zero) (?:interest|thanks|thank you)\b", 0.8),
        (r"\b(?:remove|take) (?:me|us|my (?:number|email|name)) (?:from|off)\b", 0.95),
        (
            r"\b(?:unsubscribe|opt me out|opt-out|do not contact|don't contact|stop (?:calling|texting|emailing|messaging|contacting|sending)|leave me alone|stop\b$)",
            0.95,
        ),
        (
            r"\b(?:not|isn't|is not|doesn't seem|isn't really) (?:relevant|a fit|a good fit|for us|something we need|what we need|useful)\b",
            0.85,
        ),
        (r"\bwe(?:'re| are) (?:all )?(?:good|set|fine|covered)\b", 0.6),
        (r"\b(?:don't|do not|dont) (?:need|want) (?:this|it|that|your|any)\b", 0.85),
        (
            r"\bno need (?:for (?:it|this|that|your (?:product|service|help))|thanks)\b|\bpass on (?:this|it)\b|\bwe'll pass\b|\bi'll pass\b",
            0.85,
        ),
        (
            r"\bdon't bother\b|\b(?:we're|we are|i'm|i am) not (?:buying|in the market|looking for (?:this|anything))\b",
            0.85,
        ),
        (r"\bnot for (?:us|me)\b", 0.85),
    ],
}

# A negation within this many words before a positive phrase governs it.
_NEGATION_WINDOW = 4
_NEGATIONS = re.compile(
    r"\b(?:not|no|never|without|nobody|none|neither|nor|n't|cannot|can't|won't|don't|dont|"
    r"doesn't|didn't|isn't|aren't|wasn't|weren't|haven't|hasn't|hadn't|shouldn't|wouldn't|"
    r"couldn't|unlikely|hardly|yet to)\b"
)
# Words after a phrase that deny it: "pricing isn't the issue", "a demo won't be needed".
_DENIED_AFTER = re.compile(
    r"^\W{0,3}(?:\w+\W+){0,2}?(?:isn't|is not|wasn't|won't|isnt|not needed|not necessary|"
    r"doesn't matter|is irrelevant|(?:is )?no longer)\b"
    r"|^\W{0,3}(?:seems|looks|is|sounds|'s) (?:fair|fine|ok|okay|good|reasonable|great)\b"
)
# Text-message shorthand, spelled out before matching.
_SHORTHAND = [
    (re.compile(r"\bb4\b"), "before"), (re.compile(r"\bpls\b|\bplz\b"), "please"),
    (re.compile(r"\bu\b"), "you"), (re.compile(r"\br\b"), "are"), (re.compile(r"\bim\b"), "i'm"),
    (re.compile(r"\bits my\b"), "it's my"), (re.compile(r"\bdont\b"), "don't"),
    (re.compile(r"\bcant\b"), "can't"), (re.compile(r"\bwont\b"), "won't"),
    (re.compile(r"\btmrw?\b"), "tomorrow"), (re.compile(r"\bfri\b"), "friday"),
    (re.compile(r"\bmon\b"), "monday"), (re.compile(r"\bwks?\b"), "weeks"),
]  # fmt: skip
# Sentences end at . ! ? ; after a lower-case letter or digit (so "P.O. is ready" stays whole);
# "but" and friends start a new clause too.
_SENTENCES = re.compile(r"(?<=[a-z0-9)\]\"'][.!?;])\s+|\n+")
_CONTRASTS = re.compile(r"\s+(?:but|however|although|though|except)\s+|,?\s+so\s+")
# Cues that take away a positive reading, before the phrase ("skip the demo", "thanks for the
# demo yesterday") and for negative intents a double negative ("it's not that we can't afford").
_CANCELLED_BEFORE = re.compile(
    r"\b(?:skip|forget|cancel|thanks for|cheers for|after|since|from) (?:the|your|our)\b"
)
_NOT_THAT = re.compile(r"\bnot that\b|\bisn't that\b|\bno question of\b|\bwouldn't say\b")
# A competitor mentioned as the past is no objection: "not with HubSpot anymore".
_IN_THE_PAST = re.compile(
    r"\b(?:anymore|any more|no longer|used to|ran out|ditched|dropped|cancelled|moved away)\b"
)
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True)
class Match:
    intent: str
    confidence: float
    evidence: str


class IntentDetector(Protocol):
    def detect(self, text: str) -> list[Match]: ...


def _compile(patterns: Iterable[tuple[str, float]]) -> list[tuple[re.Pattern[str], float]]:
    return [(re.compile(p), strength) for p, strength in patterns]


class KeywordIntentDetector:
    """Phrase patterns per intent, negation-aware, with confidence from the strongest match."""

    def __init__(self, extra_phrases: Mapping[str, Sequence[str]] | None = None) -> None:
        self.patterns: dict[str, list[tuple[re.Pattern[str], float]]] = {}
        for intent, patterns in _BUILT_IN.items():
            phrases = (extra_phrases or {}).get(intent, ())
            extra = [(r"\b" + re.escape(p.lower()) + r"\b", 0.85) for p in phrases]
            self.patterns[intent] = _compile([*patterns, *extra])

    def detect(self, text: str) -> list[Match]:
        found: dict[str, list[tuple[float, str]]] = {}
        for clause in _clauses(text):
            for intent, patterns in self.patterns.items():
                for pattern, strength in patterns:
                    for hit in pattern.finditer(clause):
                        if _discounted(intent, clause, hit.start(), hit.end()):
                            continue
                        found.setdefault(intent, []).append((strength, clause))
        matches = []
        for intent, hits in found.items():
            strongest, evidence = max(hits)
            # Each further independent phrase adds a little certainty, never past 0.99.
            confidence = min(
                0.99, strongest + 0.05 * (len({e for _, e in hits}) - 1) + 0.02 * (len(hits) - 1)
            )
            matches.append(Match(intent, round(confidence, 2), evidence[:300]))
        return _resolve(matches)


def _clauses(text: str) -> list[str]:
    unified = " ".join(text.translate(_QUOTES).split())
    parts = []
    for sentence in _SENTENCES.split(unified):
        parts += [_spell_out(p.strip().lower()) for p in _CONTRASTS.split(sentence) if p.strip()]
    return parts


def _spell_out(clause: str) -> str:
    for pattern, word in _SHORTHAND:
        clause = pattern.sub(word, clause)
    return clause


def _discounted(intent: str, clause: str, start: int, end: int) -> bool:
    """Whether the words around a match take its meaning away."""
    before = " ".join(clause[:start].split()[-_NEGATION_WINDOW:])
    if intent in POSITIVE:
        return bool(
            _NEGATIONS.search(before)
            or _CANCELLED_BEFORE.search(before)
            or _DENIED_AFTER.search(clause[end:])
        )
    if _NOT_THAT.search(before):
        return True
    return intent == "objection_competitor" and bool(_IN_THE_PAST.search(clause))


def _resolve(matches: list[Match]) -> list[Match]:
    """Weak signals give way to strong opposite ones in the same utterance."""
    by_intent = {m.intent: m for m in matches}
    drop: set[str] = set()
    if "not_interested" in by_intent:
        drop |= {"demo_request", "pricing_interest", "timeline_defined"} & by_intent.keys()
    if "objection_budget" in by_intent:
        drop.add("budget_confirmed")
        if by_intent.get("pricing_interest", Match("", 1, "")).confidence < 0.9:
            drop.add("pricing_interest")
    if (
        "objection_timing" in by_intent
        and by_intent.get("timeline_defined", Match("", 1, "")).confidence < 0.9
    ):
        drop.add("timeline_defined")
    competitor = by_intent.get("objection_competitor")
    if competitor and competitor.confidence < 0.75 and by_intent.keys() & set(POSITIVE):
        # a competitor's name alone, with a purchase signal, is a comparison, not an objection
        drop.add("objection_competitor")
    return [m for m in matches if m.intent not in drop]


def detect_in_conversation(
    detector: IntentDetector, messages: Iterable[Mapping[str, object]]
) -> list[Match]:
    """Intents in the contact's messages only; the agent's words are never evidence."""
    matches: dict[str, Match] = {}
    for message in messages:
        if message.get("role") != "contact":
            continue
        for match in detector.detect(str(message.get("text", ""))):
            current = matches.get(match.intent)
            if current is None or match.confidence > current.confidence:
                matches[match.intent] = match
    return list(matches.values())
