"""Outbound webhooks: the event outbox, endpoints, signing and the delivery worker."""
