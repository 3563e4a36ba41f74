"""What makes a sequence step valid for its channel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agentconnect.agent.flow import CallFlowConfig
from agentconnect.campaigns.schemas import SMS_MAX_CHARS, WHATSAPP_MAX_CHARS
from agentconnect.delivery.renderer import malformed_tokens, unknown_tokens
from agentconnect.errors import InvalidInput
from agentconnect.models import Campaign, CampaignMessage, CampaignType, DelayUnit, MessageType

_UNIT = {
    DelayUnit.MINUTES: timedelta(minutes=1),
    DelayUnit.HOURS: timedelta(hours=1),
    DelayUnit.DAYS: timedelta(days=1),
    DelayUnit.WEEKS: timedelta(weeks=1),
}


def delay_of(step: CampaignMessage | None) -> timedelta:
    return _UNIT[step.delay_unit] * step.delay_value if step else timedelta(0)


def channel_for(campaign: Campaign, requested: MessageType | None) -> MessageType:
    if campaign.campaign_type == CampaignType.MULTI_CHANNEL:
        if requested is None:
            raise InvalidInput(
                "a multi_channel campaign needs message_type on each step",
                errors=[{"loc": ["body", "message_type"], "msg": "required", "type": "missing"}],
            )
        return requested
    own = MessageType(campaign.campaign_type.value)
    if requested not in (None, own):
        raise InvalidInput(
            f"{with_article(own.value)} campaign takes only {own.value} steps",
            errors=[{"loc": ["body", "message_type"], "msg": f"must be {own.value}"}],
        )
    return own


def _error(field: str, msg: str) -> InvalidInput:
    loc = ["body", *(int(p) if p.isdigit() else p for p in field.split("."))]
    return InvalidInput(f"{field}: {msg}", errors=[{"loc": loc, "msg": msg, "type": "value_error"}])


def with_article(word: str) -> str:
    return ("an " if word[0] in "aeiou" or word in ("sms", "SMS") else "a ") + word


def _check_tokens(field: str, text: str | None) -> None:
    broken = malformed_tokens(text or "")
    if broken:
        raise _error(field, f"malformed personalisation token {', '.join(broken)}")
    unknown = unknown_tokens(text or "")
    if unknown:
        names = ", ".join("{{" + name + "}}" for name in unknown)
        raise _error(field, f"unknown personalisation token {names}")


def validate_call_flow(flow: CallFlowConfig) -> None:
    """The agent speaks the flow's texts with the contact's tokens filled in: the same token
    rules as a step's body."""
    for name, value in flow.model_dump(exclude_unset=True).items():
        if isinstance(value, str) and name not in ("voice", "language", "transfer_number"):
            _check_tokens(f"call_flow_config.{name}", value)
    for index, question in enumerate(flow.questions):
        _check_tokens(f"call_flow_config.questions.{index}.prompt", question.prompt)


def validate_step(campaign: Campaign, step: CampaignMessage) -> None:
    """Raise InvalidInput naming the field when the step cannot be sent on its channel."""
    options: dict[str, Any] = step.options or {}
    template = options.get("whatsapp_template") or {}
    texts: list[tuple[str, str | None]] = [
        ("subject", step.subject),
        ("body", step.body),
        ("voicemail_message", options.get("voicemail_message")),
        *(
            (f"whatsapp_template.variables.{name}", value)
            for name, value in (template.get("variables") or {}).items()
        ),
    ]
    variants: list[dict[str, Any]] = step.variants or []
    for index, variant in enumerate(variants):
        texts += [
            (f"variants.{index}.subject", variant.get("subject")),
            (f"variants.{index}.body", variant.get("body")),
        ]
    for field, text in texts:
        _check_tokens(field, text)

    channel = step.message_type
    bodies = [("body", step.body)] + [
        (f"variants.{i}.body", v.get("body")) for i, v in enumerate(variants) if v.get("body")
    ]
    if channel == MessageType.EMAIL:
        if not (step.subject or "").strip():
            raise _error("subject", "an email step needs a subject")
        if not step.body.strip():
            raise _error("body", "an email step needs a body")
    if template and channel != MessageType.WHATSAPP:
        raise _error("whatsapp_template", "only a whatsapp step takes a template")
    voicemail = options.get("voicemail_message") or options.get("voicemail_audio_url")
    if voicemail and channel != MessageType.VOICE:
        raise _error("voicemail_message", "only a voice step leaves a voicemail")
    if channel in (MessageType.SMS, MessageType.WHATSAPP):
        limit = SMS_MAX_CHARS if channel == MessageType.SMS else WHATSAPP_MAX_CHARS
        if not step.body.strip() and not (channel == MessageType.WHATSAPP and template):
            raise _error("body", f"{with_article(channel.value)} step needs a body")
        for field, body in bodies:
            if body and len(body) > limit:
                raise _error(field, f"{channel.value} bodies are at most {limit:,} characters")
    elif channel == MessageType.VOICE and not step.body.strip() and not campaign.call_flow_config:
        raise _error(
            "body", "a voice step needs a script (body) or the campaign's call_flow_config"
        )
