"""Handlers: one module per use case, each over narrow ports, each safe to run twice.

- :mod:`.invite`: ``invite_guest``, one HR message: invite (once) or find, then fan out; and
  the invitation gate every ``POST /invitations`` goes through;
- :mod:`.assign`: ``queue_steps``, the fan-out, and ``perform_assignment``, one group
  membership, app role or sponsor link;
- :mod:`.remind`: ``send_reminder``, one reminder the sweep scheduled;
- :mod:`.sweep`: ``sweep_reminders``, the timer's pass over pending guests.

What a handler decides comes from :mod:`guest_onboarding.domain`; what it does goes through
:mod:`guest_onboarding.ports`. Idempotency rests on the ledger: a row is claimed before an
invitation is sent, step statuses are recorded as steps finish, and the sweep records "reminder
n scheduled" (etag-checked) before it queues anything. Retrying is not the handlers' business:
they raise, and :mod:`guest_onboarding.retry` decides (back after Retry-After, back-off, or
poison).
"""
