"""Automation rules: a trigger, conditions and actions, evaluated by the worker from events."""
