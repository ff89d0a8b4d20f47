"""Webhooks: events for other systems, delivered from an outbox with HMAC signatures."""
