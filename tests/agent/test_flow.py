"""Validation of a campaign's call_flow_config."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agentconnect.agent import CallFlowConfig, Question


def test_defaults() -> None:
    flow = CallFlowConfig()
    assert [q.slot for q in flow.questions] == [
        "budget",
        "timeline",
        "decision_maker",
        "company_size",
    ]
    assert flow.questions[0].prompt == "Do you have a budget set aside for this? Roughly how much?"
    assert flow.greeting.startswith("Hi {{first_name|there}}, this is an assistant")
    assert flow.meeting_prompt is not None
    assert flow.transfer_number is None
    assert flow.voice is None
    assert (flow.language, flow.max_reprompts) == ("en-US", 1)


def test_defaults_are_not_shared_between_flows() -> None:
    first, second = CallFlowConfig(), CallFlowConfig()
    first.questions.pop()
    assert len(second.questions) == 4


def test_a_full_config_from_json() -> None:
    flow = CallFlowConfig.model_validate(
        {
            "greeting": "Hello {{first_name}}",
            "questions": [{"slot": "timeline", "prompt": "When do you need it?"}],
            "meeting_prompt": None,
            "transfer_number": "+14155550123",
            "voice": "Polly.Joanna-Neural",
            "language": "en-GB",
            "max_reprompts": 3,
        }
    )
    assert flow.questions == [Question(slot="timeline", prompt="When do you need it?")]
    assert flow.meeting_prompt is None
    assert flow.transfer_number == "+14155550123"
    assert flow.model_dump(mode="json")["voice"] == "Polly.Joanna-Neural"


@pytest.mark.parametrize(
    ("config", "location"),
    [
        ({"questions": [{"slot": "industry", "prompt": "What do you do?"}]}, "questions.0.slot"),
        ({"questions": [{"slot": "budget", "prompt": ""}]}, "questions.0.prompt"),
        ({"questions": [{"slot": "budget", "prompt": "x" * 1001}]}, "questions.0.prompt"),
        (
            {"questions": [{"slot": "budget", "prompt": "Budget?", "required": True}]},
            "questions.0.required",
        ),
        (
            {
                "questions": [
                    {"slot": "budget", "prompt": "Budget?"},
                    {"slot": "budget", "prompt": "How much again?"},
                ]
            },
            "questions",
        ),
        ({"questions": [{"slot": "budget", "prompt": "Q?"}] * 11}, "questions"),
        ({"transfer_number": "4155550123"}, "transfer_number"),
        ({"transfer_number": "+04155550123"}, "transfer_number"),
        ({"transfer_number": "+1415555012345678"}, "transfer_number"),
        ({"transfer_number": "+1 415 555 0123"}, "transfer_number"),
        ({"voice": "x" * 51}, "voice"),
        ({"voice": "alice; rm -rf"}, "voice"),
        ({"language": "english"}, "language"),
        ({"max_reprompts": 4}, "max_reprompts"),
        ({"max_reprompts": -1}, "max_reprompts"),
        ({"greeting": "   "}, "greeting"),
        ({"closing": ""}, "closing"),
        ({"tone": "friendly"}, "tone"),
    ],
)
def test_invalid_configs(config: dict[str, Any], location: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CallFlowConfig.model_validate(config)
    assert [".".join(map(str, error["loc"])) for error in caught.value.errors()] == [location]


def test_duplicate_slots_name_the_slot() -> None:
    with pytest.raises(ValidationError, match="slot 'timeline' is asked more than once"):
        CallFlowConfig(
            questions=[
                Question(slot="timeline", prompt="When?"),
                Question(slot="timeline", prompt="When, again?"),
            ]
        )
