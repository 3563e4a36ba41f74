"""`RuleAgent`: the built-in, deterministic agent. It greets, asks the flow's questions in order,
offers a meeting and says goodbye, reading each answer with the parsers in `parsing`.

On every turn the call-level intents come first: a callee who asks not to be called, to be
called later or to talk to a person gets that, whatever question was pending. An answer that is
not understood is asked again up to `max_reprompts` times, then the question is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from agentconnect.agent.base import Action, Outcome, Turn
from agentconnect.agent.flow import CallFlowConfig, Slot
from agentconnect.agent.parsing import (
    Intent,
    detect_intent,
    is_polite_decline,
    parse_company_size,
    parse_datetime,
    parse_decision_maker,
    parse_money,
    parse_timeline,
    parse_yes_no,
    says_no_timeline,
)

NOT_UNDERSTOOD = "Sorry, I didn't catch that. "
NOT_HEARD = "Sorry, I didn't hear you. "
MEETING_TIME_PROMPT = "What day and time suits you?"
MEETING_NOTED_LATER = "Great, we'll find a time for that at the end of the call. "
SPECIALIST_WILL_CALL = "No problem, one of our specialists will be in touch to find a time. "
CALLBACK_BY_PERSON = "Of course. I'll have one of our team call you back. Goodbye."
NO_RESPONSE = "Sorry, I can't hear you. We'll try again another time. Goodbye."


class Step(StrEnum):
    GREETING = "greeting"
    QUESTION = "question"
    MEETING = "meeting"  # the flow's meeting_prompt is pending
    MEETING_TIME = "meeting_time"  # the callee wants a meeting; a day and time is pending
    ENDED = "ended"


class _State(BaseModel):
    """Where the conversation is. Dumped to JSON between turns."""

    step: Step
    question: int = Field(default=0, ge=0)  # index into flow.questions while step is QUESTION
    reprompts: int = Field(default=0, ge=0)  # times the pending step was asked again
    silences: int = Field(default=0, ge=0)  # consecutive turns without an answer
    answers: dict[str, Any] = Field(default_factory=dict)
    meeting_at: datetime | None = None


SlotReader = Callable[[str, datetime], dict[str, Any] | None]


def _read_budget(text: str, now: datetime) -> dict[str, Any] | None:
    money = parse_money(text)
    if money is not None:
        return {
            "budget_amount": float(money.amount),
            "budget_currency": money.currency,
            "budget_confirmed": money.amount > 0,
        }
    # "Yes" to "do you have a budget?" confirms one without naming it.
    confirmed = parse_yes_no(text)
    return None if confirmed is None else {"budget_confirmed": confirmed}


def _read_timeline(text: str, now: datetime) -> dict[str, Any] | None:
    timeline = parse_timeline(text, now)
    if timeline is not None:
        return {
            "timeline": timeline.text,
            "timeline_months": timeline.months,
            "timeline_defined": True,
        }
    if says_no_timeline(text):
        return {"timeline": "no timeline", "timeline_months": None, "timeline_defined": False}
    return None


def _read_decision_maker(text: str, now: datetime) -> dict[str, Any] | None:
    decides = parse_decision_maker(text)
    return None if decides is None else {"decision_maker": decides}


def _read_company_size(text: str, now: datetime) -> dict[str, Any] | None:
    size = parse_company_size(text)
    return None if size is None else {"company_size": size}


SLOT_READERS: dict[Slot, SlotReader] = {
    "budget": _read_budget,
    "timeline": _read_timeline,
    "decision_maker": _read_decision_maker,
    "company_size": _read_company_size,
}


def spoken_time(moment: datetime) -> str:
    """ "Tuesday, March 18 at 3 PM", "Friday, March 14 at 2:30 PM"."""
    hour = moment.hour % 12 or 12
    clock = f"{hour}:{moment.minute:02d}" if moment.minute else f"{hour}"
    meridiem = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%A}, {moment:%B} {moment.day} at {clock} {meridiem}"


class RuleAgent:
    """Deterministic: the same flow, state, speech and time always give the same turn.

    `min_confidence`: a transcription the recogniser is less sure of than this counts as not
    understood (0, the default, trusts every transcription)."""

    def __init__(self, *, min_confidence: float = 0.0) -> None:
        self.min_confidence = min_confidence

    def begin(self, flow: CallFlowConfig, *, now: datetime, tz: ZoneInfo) -> Turn:
        answers = {"questions_total": len(flow.questions), "questions_answered": 0}
        return _gather(_State(step=Step.GREETING, answers=answers), flow.greeting)

    def reply(
        self,
        flow: CallFlowConfig,
        state: dict[str, Any],
        speech: str | None,
        *,
        now: datetime,
        tz: ZoneInfo,
        confidence: float | None = None,
    ) -> Turn:
        current = _State.model_validate(state)
        if current.step is Step.ENDED:
            # A repeated webhook after the goodbye: end again, quietly.
            return _turn(current, "", "hangup", current.answers.get("call_outcome"))
        text = (speech or "").strip()
        if not text:
            return _on_silence(flow, current)
        current.silences = 0
        if confidence is not None and confidence < self.min_confidence:
            return _ask_again_or_move_on(flow, current, NOT_UNDERSTOOD)
        if current.step in (Step.MEETING, Step.MEETING_TIME):
            return _on_meeting_answer(flow, current, text, now, tz)
        intent = detect_intent(text)
        if intent is Intent.MEETING:
            return _on_meeting_request(flow, current, text, now, tz)
        if intent is not None:
            return _on_call_intent(flow, current, intent)
        if current.step is Step.GREETING:
            return _on_greeting_answer(flow, current, text)
        return _on_question_answer(flow, current, text, now)


# --------------------------------------------------------------------------- turns


def _turn(
    state: _State,
    say: str,
    action: Action,
    outcome: Outcome | None,
    transfer_to: str | None = None,
) -> Turn:
    return Turn(
        say=say,
        action=action,
        answers=dict(state.answers),
        outcome=outcome,
        meeting_at=state.meeting_at,
        state=state.model_dump(mode="json"),
        transfer_to=transfer_to,
    )


def _gather(state: _State, say: str) -> Turn:
    return _turn(state, say, "gather", None)


def _end(
    state: _State,
    say: str,
    outcome: Outcome,
    *,
    action: Action = "hangup",
    transfer_to: str | None = None,
) -> Turn:
    state.step = Step.ENDED
    state.answers["call_outcome"] = outcome
    return _turn(state, say, action, outcome, transfer_to)


def _pending_prompt(flow: CallFlowConfig, state: _State) -> str:
    if state.step is Step.GREETING:
        return flow.greeting
    if state.step is Step.QUESTION:
        return flow.questions[state.question].prompt
    if state.step is Step.MEETING and flow.meeting_prompt is not None:
        return flow.meeting_prompt
    return MEETING_TIME_PROMPT


# --------------------------------------------------------------------------- moving on


def _ask_question(flow: CallFlowConfig, state: _State, index: int, prefix: str = "") -> Turn:
    if index >= len(flow.questions):
        return _after_questions(flow, state, prefix)
    state.step, state.question, state.reprompts = Step.QUESTION, index, 0
    return _gather(state, prefix + flow.questions[index].prompt)


def _after_questions(flow: CallFlowConfig, state: _State, prefix: str = "") -> Turn:
    state.reprompts = 0
    if state.meeting_at is not None:
        return _close(flow, state, prefix)
    if state.answers.get("meeting_requested"):
        # Asked for during the questions without a time: ask for one even when the flow
        # offers no meeting itself.
        state.step = Step.MEETING_TIME
        return _gather(state, prefix + MEETING_TIME_PROMPT)
    if flow.meeting_prompt is not None:
        state.step = Step.MEETING
        return _gather(state, prefix + flow.meeting_prompt)
    return _close(flow, state, prefix)


def _close(flow: CallFlowConfig, state: _State, prefix: str = "") -> Turn:
    return _end(state, prefix + flow.closing, "completed")


def _move_on(flow: CallFlowConfig, state: _State) -> Turn:
    """Leave the pending step unanswered."""
    if state.step is Step.GREETING:
        return _ask_question(flow, state, 0)
    if state.step is Step.QUESTION:
        return _ask_question(flow, state, state.question + 1)
    return _close(flow, state)


def _ask_again_or_move_on(flow: CallFlowConfig, state: _State, apology: str) -> Turn:
    if state.reprompts < flow.max_reprompts:
        state.reprompts += 1
        return _gather(state, apology + _pending_prompt(flow, state))
    return _move_on(flow, state)


def _on_silence(flow: CallFlowConfig, state: _State) -> Turn:
    # The pending step is asked again up to max_reprompts times, then skipped; one more
    # silence after that means nobody is listening.
    state.silences += 1
    if state.silences >= flow.max_reprompts + 2:
        return _end(state, NO_RESPONSE, "no_response")
    return _ask_again_or_move_on(flow, state, NOT_HEARD)


# --------------------------------------------------------------------------- answers


def _on_call_intent(flow: CallFlowConfig, state: _State, intent: Intent) -> Turn:
    if intent is Intent.NOT_INTERESTED:
        return _end(state, flow.not_interested_reply, "not_interested")
    if intent is Intent.HUMAN and flow.transfer_number is not None:
        return _end(
            state,
            flow.transfer_message,
            "transferred",
            action="transfer",
            transfer_to=flow.transfer_number,
        )
    state.answers["callback_requested"] = True
    if intent is Intent.HUMAN:
        return _end(state, CALLBACK_BY_PERSON, "call_later")
    return _end(state, flow.call_later_reply, "call_later")


def _on_greeting_answer(flow: CallFlowConfig, state: _State, text: str) -> Turn:
    # "Do you have a minute?" - "No": not now, rather than not ever.
    if parse_yes_no(text) is False:
        return _on_call_intent(flow, state, Intent.CALL_LATER)
    return _ask_question(flow, state, 0)


def _on_question_answer(flow: CallFlowConfig, state: _State, text: str, now: datetime) -> Turn:
    if state.question >= len(flow.questions):  # the flow lost questions mid-call
        return _after_questions(flow, state)
    understood = SLOT_READERS[flow.questions[state.question].slot](text, now)
    if understood is None:
        return _ask_again_or_move_on(flow, state, NOT_UNDERSTOOD)
    _record(state, understood)
    return _ask_question(flow, state, state.question + 1)


def _record(state: _State, understood: dict[str, Any]) -> None:
    state.answers.update(understood)
    state.answers["questions_answered"] = state.answers.get("questions_answered", 0) + 1


def _book(state: _State, when: datetime) -> str:
    state.meeting_at = when
    state.answers["meeting_requested"] = True
    state.answers["meeting_at"] = when.isoformat()
    return f"Great, I've booked you in for {spoken_time(when)}. "


def _on_meeting_request(
    flow: CallFlowConfig, state: _State, text: str, now: datetime, tz: ZoneInfo
) -> Turn:
    """A meeting asked for before the questions are done: note it (with its time if given)
    and carry on. The pending question is asked again rather than read from this answer:
    "I'd like a demo" would otherwise count as a yes to it."""
    when = parse_datetime(text, now, tz)
    state.answers["meeting_requested"] = True
    acknowledgement = _book(state, when) if when else MEETING_NOTED_LATER
    if state.step is Step.GREETING:
        return _ask_question(flow, state, 0, acknowledgement)
    if state.question >= len(flow.questions):  # the flow lost questions mid-call
        return _after_questions(flow, state, acknowledgement)
    return _gather(state, acknowledgement + _pending_prompt(flow, state))


def _on_meeting_answer(
    flow: CallFlowConfig, state: _State, text: str, now: datetime, tz: ZoneInfo
) -> Turn:
    intent = detect_intent(text)
    when = parse_datetime(text, now, tz)
    # "Call me tomorrow at 3" here is a time for the meeting, not a request to hang up.
    if when is not None and intent not in (Intent.NOT_INTERESTED, Intent.HUMAN):
        return _close(flow, state, _book(state, when))
    wants_meeting = parse_yes_no(text)
    # "No thanks" declines the meeting; after all the questions it is no refusal of the call.
    if is_polite_decline(text):
        wants_meeting = False
    elif intent is not None and intent is not Intent.MEETING:
        return _on_call_intent(flow, state, intent)
    elif intent is Intent.MEETING:
        wants_meeting = True
    if wants_meeting is False:
        state.answers["meeting_requested"] = False
        return _close(flow, state)
    if state.step is Step.MEETING_TIME:
        # Asked once already: leave the scheduling to a person.
        return _close(flow, state, SPECIALIST_WILL_CALL)
    if wants_meeting:
        state.answers["meeting_requested"] = True
        state.step, state.reprompts = Step.MEETING_TIME, 0
        return _gather(state, MEETING_TIME_PROMPT)
    return _ask_again_or_move_on(flow, state, NOT_UNDERSTOOD)
