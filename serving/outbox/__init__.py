"""Score push with guaranteed delivery (issue 16 item 1; ``docs/webhooks.md``).

``events`` (what is pushed: subscriptions and events as values, their payloads),
``signing`` (the Standard Webhooks signature), ``deliver`` (one attempt at one target:
the plain webhook, and the interface CRM adapters plug into), ``worker`` (claims due
deliveries, delivers them, backs off, dead-letters). The tables and their queries are
``serving.tables`` and ``serving.store.outbox``.
"""
