"""Partner webhooks out: subscriptions, the outbox of events, signed deliveries with retries.

See README.md, "Partner webhooks". Inbound partner pushes are ``integrations.webhooks``.
"""
