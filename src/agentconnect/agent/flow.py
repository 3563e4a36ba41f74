"""A voice campaign's `call_flow_config`: what the agent says and which questions it asks.

Texts may contain personalisation tokens ({{first_name|there}}); the caller renders them before
handing the flow to an agent, so agents only ever see plain text.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Slot = Literal["budget", "timeline", "decision_maker", "company_size"]

# Something the agent says: never blank, and short enough to be spoken in one breath or two.
SpokenText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]

# E.164: a plus, a country code that never starts with 0, at most 15 digits in all.
E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9]\d{6,14}$")]

# Twilio voice names look like "alice", "Polly.Joanna-Neural" or "Google.en-US-Standard-C".
VoiceName = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[\w.\-]+$")]

# BCP 47 tags as Twilio's speech recognition accepts them: "en-US", "cmn-Hans-CN".
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(?:-[A-Za-z]{2,4}){1,2}$")]


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: Slot
    prompt: SpokenText


def default_questions() -> list[Question]:
    return [
        Question(
            slot="budget", prompt="Do you have a budget set aside for this? Roughly how much?"
        ),
        Question(slot="timeline", prompt="When are you hoping to have something in place?"),
        Question(
            slot="decision_maker",
            prompt="Are you the person who makes the final decision on this?",
        ),
        Question(slot="company_size", prompt="How many people work at your company?"),
    ]


class CallFlowConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    greeting: SpokenText = (
        "Hi {{first_name|there}}, this is an assistant calling from {{company.name}}. "
        "Do you have a minute for a few quick questions?"
    )
    questions: list[Question] = Field(default_factory=default_questions, max_length=10)
    meeting_prompt: SpokenText | None = Field(
        default=(
            "Would you like to book a meeting with one of our specialists? "
            "Just tell me a day and time that suits you."
        ),
        description="null: the agent does not offer a meeting",
    )
    closing: SpokenText = "Thank you for your time. Goodbye."
    not_interested_reply: SpokenText = "I understand. Thanks for your time, goodbye."
    call_later_reply: SpokenText = "No problem, we'll call you back later. Goodbye."
    transfer_message: SpokenText = "Let me put you through to a colleague now."
    transfer_number: E164 | None = Field(
        default=None, description="E.164; without it a request for a person becomes a callback"
    )
    voice: VoiceName | None = None
    language: LanguageTag = "en-US"
    max_reprompts: int = Field(
        default=1, ge=0, le=3, description="how often a question is asked again when not understood"
    )

    @field_validator("questions")
    @classmethod
    def _one_question_per_slot(cls, questions: list[Question]) -> list[Question]:
        # Two questions filling the same slot would overwrite each other's answer.
        seen: set[str] = set()
        for question in questions:
            if question.slot in seen:
                raise ValueError(f"slot {question.slot!r} is asked more than once")
            seen.add(question.slot)
        return questions
