"""The AI agent that leads voice calls: a pluggable `Agent` interface and `RuleAgent`, the
built-in deterministic implementation, driven by a campaign's `CallFlowConfig`."""

from agentconnect.agent.base import Agent, Turn
from agentconnect.agent.flow import CallFlowConfig, Question
from agentconnect.agent.rules import RuleAgent

__all__ = ["Agent", "CallFlowConfig", "Question", "RuleAgent", "Turn"]
