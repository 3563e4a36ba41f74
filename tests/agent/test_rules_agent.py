"""Whole conversations with the built-in RuleAgent, turn by turn."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agentconnect.agent import Agent, CallFlowConfig, Question, RuleAgent, Turn
from agentconnect.agent.rules import (
    CALLBACK_BY_PERSON,
    MEETING_NOTED_LATER,
    MEETING_TIME_PROMPT,
    NO_RESPONSE,
    NOT_HEARD,
    NOT_UNDERSTOOD,
    SPECIALIST_WILL_CALL,
)

# Wednesday 12 March 2025, 10:00 in New York.
NOW = datetime(2025, 3, 12, 14, 0, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
FLOW = CallFlowConfig(greeting="Hi Ada, do you have a minute?")
BUDGET, TIMELINE, DECISION, SIZE = (q.prompt for q in FLOW.questions)


class Call:
    """Drives one call the way the telephony webhook does: state out, state back in."""

    def __init__(self, flow: CallFlowConfig = FLOW, agent: Agent | None = None) -> None:
        self.flow = flow
        self.agent: Agent = agent or RuleAgent()
        self.turn = self.agent.begin(flow, now=NOW, tz=NEW_YORK)
        self.turns = [self.turn]

    def say(self, speech: str | None, confidence: float | None = None) -> Turn:
        assert self.turn.action == "gather", "the call is over"
        # The state goes through JSON as it does when stored with the call.
        state = json.loads(json.dumps(self.turn.state))
        self.turn = self.agent.reply(
            self.flow, state, speech, now=NOW, tz=NEW_YORK, confidence=confidence
        )
        self.turns.append(self.turn)
        return self.turn

    def script(self, *speeches: str | None) -> list[str]:
        """What the agent said after each answer."""
        return [self.say(speech).say for speech in speeches]


def test_the_rule_agent_implements_the_protocol() -> None:
    agent: Agent = RuleAgent()
    assert isinstance(agent.begin(FLOW, now=NOW, tz=NEW_YORK), Turn)


def test_happy_path() -> None:
    call = Call()
    assert call.turn.say == "Hi Ada, do you have a minute?"
    assert call.turn.action == "gather"
    assert call.turn.answers == {"questions_total": 4, "questions_answered": 0}

    said = call.script(
        "Yes, sure.",
        "About $50,000.",
        "Next quarter.",
        "Yes, I am.",
        "About 120 people.",
        "Tuesday at 10am",
    )

    assert said == [
        BUDGET,
        TIMELINE,
        DECISION,
        SIZE,
        FLOW.meeting_prompt,
        "Great, I've booked you in for Tuesday, March 18 at 10 AM. " + FLOW.closing,
    ]
    end = call.turn
    assert end.action == "hangup"
    assert end.outcome == "completed"
    assert end.meeting_at == datetime(2025, 3, 18, 10, 0, tzinfo=NEW_YORK)
    assert end.transfer_to is None
    assert end.answers == {
        "questions_total": 4,
        "questions_answered": 4,
        "budget_amount": 50000.0,
        "budget_currency": "USD",
        "budget_confirmed": True,
        "timeline": "next quarter",
        "timeline_months": 0.7,
        "timeline_defined": True,
        "decision_maker": True,
        "company_size": "51-200",
        "meeting_requested": True,
        "meeting_at": "2025-03-18T10:00:00-04:00",
        "call_outcome": "completed",
    }
    # Nothing is ended early and every state survives a round trip through JSON.
    assert [t.outcome for t in call.turns[:-1]] == [None] * 6
    for turn in call.turns:
        assert json.loads(json.dumps(turn.state)) == turn.state


def test_answers_accumulate_turn_by_turn() -> None:
    call = Call()
    call.script("yes", "50k")
    assert call.turn.answers == {
        "questions_total": 4,
        "questions_answered": 1,
        "budget_amount": 50000.0,
        "budget_currency": None,
        "budget_confirmed": True,
    }
    call.say("no rush at all")
    assert call.turn.answers["timeline_defined"] is False
    assert call.turn.answers["timeline"] == "no timeline"
    assert call.turn.answers["timeline_months"] is None
    assert call.turn.answers["questions_answered"] == 2


@pytest.mark.parametrize(
    ("speech", "budget"),
    [
        (
            "No budget yet.",
            {"budget_amount": 0.0, "budget_currency": None, "budget_confirmed": False},
        ),
        ("Yes we do.", {"budget_confirmed": True}),  # confirmed, amount unknown
        ("No.", {"budget_confirmed": False}),
        (
            "Around 20,000 euros",
            {"budget_amount": 20000.0, "budget_currency": "EUR", "budget_confirmed": True},
        ),
    ],
)
def test_budget_answers(speech: str, budget: dict[str, Any]) -> None:
    call = Call()
    call.script("yes", speech)
    answers = call.turn.answers
    assert {k: v for k, v in answers.items() if k.startswith("budget")} == budget
    assert answers["questions_answered"] == 1
    assert call.turn.say == TIMELINE


def test_same_inputs_give_the_same_turns() -> None:
    speeches = ("yes", "hmm", "20 grand", "in May", "", "no", "5", "Friday at 2pm")
    first, second = Call(), Call()
    assert first.script(*speeches) == second.script(*speeches)
    assert first.turns == second.turns


@pytest.mark.parametrize(
    "answers_before",
    [
        (),  # to the greeting
        ("yes",),  # to the first question
        ("yes", "50k", "next month"),  # midway
        ("yes", "50k", "next month", "yes", "10"),  # to the meeting offer
    ],
)
@pytest.mark.parametrize("refusal", ["I'm not interested.", "Stop calling me", "Remove me please"])
def test_not_interested_at_any_point(answers_before: tuple[str, ...], refusal: str) -> None:
    call = Call()
    call.script(*answers_before)
    end = call.say(refusal)
    assert (end.say, end.action, end.outcome) == (
        FLOW.not_interested_reply,
        "hangup",
        "not_interested",
    )
    assert end.answers["call_outcome"] == "not_interested"
    assert end.answers["questions_answered"] == max(0, len(answers_before) - 1)


def test_no_thanks_to_the_greeting_is_not_interested() -> None:
    end = Call().say("No thanks.")
    assert (end.say, end.outcome) == (FLOW.not_interested_reply, "not_interested")


def test_no_thanks_to_the_meeting_only_declines_the_meeting() -> None:
    call = Call()
    call.script("yes", "50k", "next month", "yes", "10")
    end = call.say("No thanks.")
    assert (end.say, end.outcome) == (FLOW.closing, "completed")
    assert end.answers["meeting_requested"] is False
    assert end.meeting_at is None


@pytest.mark.parametrize("speech", ["Can you call me back later?", "Sorry, I'm driving", "No."])
def test_call_later_from_the_greeting(speech: str) -> None:
    end = Call().say(speech)
    assert (end.say, end.action, end.outcome) == (FLOW.call_later_reply, "hangup", "call_later")
    assert end.answers == {
        "questions_total": 4,
        "questions_answered": 0,
        "callback_requested": True,
        "call_outcome": "call_later",
    }


def test_call_later_midway_keeps_the_answers_so_far() -> None:
    call = Call()
    call.script("yes", "$10,000")
    end = call.say("Actually this is a bad time")
    assert end.outcome == "call_later"
    assert end.answers["budget_amount"] == 10000.0
    assert end.answers["callback_requested"] is True


def test_transfer_to_a_person() -> None:
    flow = FLOW.model_copy(update={"transfer_number": "+14155550123"})
    call = Call(flow)
    call.script("yes", "50k")
    end = call.say("Can I speak to a real person?")
    assert (end.say, end.action, end.outcome, end.transfer_to) == (
        flow.transfer_message,
        "transfer",
        "transferred",
        "+14155550123",
    )
    assert end.answers["call_outcome"] == "transferred"
    assert end.answers["budget_amount"] == 50000.0


def test_a_person_without_a_transfer_number_calls_back() -> None:
    end = Call().say("Operator.")
    assert (end.say, end.action, end.outcome, end.transfer_to) == (
        CALLBACK_BY_PERSON,
        "hangup",
        "call_later",
        None,
    )
    assert end.answers["callback_requested"] is True


def test_reprompt_then_skip() -> None:
    call = Call()
    said = call.script("yes", "Hmm, let me see", "Banana", "in June")
    assert said == [BUDGET, NOT_UNDERSTOOD + BUDGET, TIMELINE, DECISION]
    assert "budget_confirmed" not in call.turn.answers
    assert call.turn.answers["timeline"] == "in June"
    assert call.turn.answers["questions_answered"] == 1


@pytest.mark.parametrize("max_reprompts", [0, 2])
def test_reprompts_follow_the_flow(max_reprompts: int) -> None:
    flow = FLOW.model_copy(update={"max_reprompts": max_reprompts})
    call = Call(flow)
    call.say("yes")
    said = [call.say("what?").say for _ in range(max_reprompts + 1)]
    assert said == [NOT_UNDERSTOOD + BUDGET] * max_reprompts + [TIMELINE]


def test_low_confidence_counts_as_not_understood() -> None:
    call = Call(agent=RuleAgent(min_confidence=0.5))
    call.say("yes")
    assert call.say("fifty thousand", confidence=0.2).say == NOT_UNDERSTOOD + BUDGET
    assert call.say("fifty thousand", confidence=0.9).say == TIMELINE
    assert call.turn.answers["budget_amount"] == 50000.0


def test_silence_is_asked_again_then_skipped_then_ends_the_call() -> None:
    call = Call()
    call.say("yes")
    assert call.say(None).say == NOT_HEARD + BUDGET
    assert call.say("").say == TIMELINE  # reprompts used up: move on
    end = call.say("   ")
    assert (end.say, end.action, end.outcome) == (NO_RESPONSE, "hangup", "no_response")
    assert end.answers["call_outcome"] == "no_response"


def test_silence_from_the_start() -> None:
    call = Call()
    said = call.script(None, None, None)
    assert said == [NOT_HEARD + FLOW.greeting, BUDGET, NO_RESPONSE]
    assert call.turn.outcome == "no_response"


def test_an_answer_resets_the_silence_count() -> None:
    call = Call()
    call.script("yes", None, None)  # budget skipped after one reprompt
    assert call.turn.say == TIMELINE
    assert call.say("next month").say == DECISION
    assert call.say(None).say == NOT_HEARD + DECISION
    assert call.say(None).say == SIZE
    assert call.say(None).outcome == "no_response"


def test_custom_flow_with_two_questions_and_no_meeting() -> None:
    flow = CallFlowConfig(
        greeting="Hello!",
        questions=[
            Question(slot="company_size", prompt="How big is your team?"),
            Question(slot="decision_maker", prompt="Do you sign off purchases?"),
        ],
        meeting_prompt=None,
        closing="Bye now.",
    )
    call = Call(flow)
    assert call.script("hi", "just me", "that's me") == [
        "How big is your team?",
        "Do you sign off purchases?",
        "Bye now.",
    ]
    assert call.turn.outcome == "completed"
    assert call.turn.answers == {
        "questions_total": 2,
        "questions_answered": 2,
        "company_size": "1-10",
        "decision_maker": True,
        "call_outcome": "completed",
    }


def test_a_flow_without_questions_goes_to_the_meeting() -> None:
    flow = CallFlowConfig(greeting="Hello!", questions=[])
    call = Call(flow)
    assert call.say("yes").say == flow.meeting_prompt
    assert call.say("Friday at 2:30 pm").outcome == "completed"
    assert call.turn.answers["questions_total"] == 0


def test_meeting_yes_without_a_time_asks_once_for_one() -> None:
    call = Call()
    call.script("yes", "50k", "next month", "yes", "10")
    assert call.say("Yes please").say == MEETING_TIME_PROMPT
    end = call.say("Tomorrow at 3")
    assert end.say == "Great, I've booked you in for Thursday, March 13 at 3 PM. " + FLOW.closing
    assert end.meeting_at == datetime(2025, 3, 13, 15, 0, tzinfo=NEW_YORK)
    assert end.answers["meeting_at"] == "2025-03-13T15:00:00-04:00"


def test_meeting_time_not_understood_leaves_it_to_a_specialist() -> None:
    call = Call()
    call.script("yes", "50k", "next month", "yes", "10", "sure")
    end = call.say("Whenever, really")
    assert (end.say, end.outcome) == (SPECIALIST_WILL_CALL + FLOW.closing, "completed")
    assert end.answers["meeting_requested"] is True
    assert "meeting_at" not in end.answers
    assert end.meeting_at is None


def test_meeting_declined() -> None:
    call = Call()
    call.script("yes", "50k", "next month", "yes", "10")
    end = call.say("No, not for now.")
    assert (end.say, end.outcome) == (FLOW.closing, "completed")
    assert end.answers["meeting_requested"] is False


def test_call_me_tomorrow_at_3_books_the_meeting() -> None:
    call = Call()
    call.script("yes", "50k", "next month", "yes", "10")
    end = call.say("Call me tomorrow at 3pm")
    assert end.outcome == "completed"
    assert end.meeting_at == datetime(2025, 3, 13, 15, 0, tzinfo=NEW_YORK)


def test_meeting_requested_during_the_questions() -> None:
    call = Call()
    call.say("yes")
    assert call.say("Can we just book a demo?").say == MEETING_NOTED_LATER + BUDGET
    said = call.script("50k", "Q3", "yes", "about 30")
    assert said[-1] == MEETING_TIME_PROMPT  # the time, rather than the offer again
    end = call.say("Monday at 11am")
    assert end.meeting_at == datetime(2025, 3, 17, 11, 0, tzinfo=NEW_YORK)
    assert end.answers["questions_answered"] == 4
    assert end.answers["company_size"] == "11-50"


def test_meeting_with_a_time_during_the_questions_skips_the_offer() -> None:
    call = Call()
    first = call.say("Sure, and set up a demo for Friday at 2pm")
    assert first.say == "Great, I've booked you in for Friday, March 14 at 2 PM. " + BUDGET
    assert first.meeting_at == datetime(2025, 3, 14, 14, 0, tzinfo=NEW_YORK)
    end = call.script("50k", "Q3", "yes", "about 30")[-1]
    assert end == FLOW.closing
    assert call.turn.meeting_at == datetime(2025, 3, 14, 14, 0, tzinfo=NEW_YORK)
    assert call.turn.answers["meeting_at"] == "2025-03-14T14:00:00-04:00"


def test_a_reply_after_the_end_hangs_up_again() -> None:
    call = Call()
    ended = call.say("not interested")
    again = RuleAgent().reply(FLOW, ended.state, "hello?", now=NOW, tz=NEW_YORK)
    assert (again.say, again.action, again.outcome) == ("", "hangup", "not_interested")


def test_a_garbled_state_is_rejected() -> None:
    with pytest.raises(ValueError, match="step"):
        RuleAgent().reply(FLOW, {"step": "dancing"}, "yes", now=NOW, tz=NEW_YORK)
