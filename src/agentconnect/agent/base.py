"""The interface between a voice call and the agent that leads the conversation.

The telephony side says `Turn.say`, then acts on `Turn.action`: listen for an answer (gather),
dial `transfer_to`, or hang up. It stores `Turn.state` with the call and hands it back, with
what the callee said, to `Agent.reply`. Agents keep no memory of their own between turns, so
any worker can serve any turn and a replayed turn gives the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from agentconnect.agent.flow import CallFlowConfig

Action = Literal["gather", "transfer", "hangup"]
Outcome = Literal["completed", "not_interested", "call_later", "transferred", "no_response"]


@dataclass(frozen=True)
class Turn:
    say: str
    """What to say next, as plain text."""
    action: Action
    answers: dict[str, Any]
    """Qualification data gathered so far (cumulative); becomes the lead's qualification_data."""
    outcome: Outcome | None
    """Set on the turn that ends the call."""
    meeting_at: datetime | None
    """Aware; set once the callee has booked a meeting, and on every turn after."""
    state: dict[str, Any]
    """JSON-serialisable; hand it back to `Agent.reply` with the callee's next answer."""
    transfer_to: str | None = None
    """The E.164 number to dial when action is "transfer"."""


class Agent(Protocol):
    def begin(self, flow: CallFlowConfig, *, now: datetime, tz: ZoneInfo) -> Turn:
        """The call was answered: the first thing to say."""
        ...

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
        """The callee answered `speech` (None or "" when they said nothing) to the turn whose
        state this is. `confidence` is the speech recogniser's, from 0 to 1, when known."""
        ...
