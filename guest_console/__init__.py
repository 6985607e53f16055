"""The identity team's console (``guest-onboarding``): submit HR messages in bulk (JSON lines
or the Entra portal's bulk-invite CSV), see where every guest stands, write a report, and read
and replay poison messages.

It talks to storage only through the app's composition root and ports (``bootstrap``,
``ports``), validates with the app's own rules (``messages``) and settings (``config``), and is
never imported by the function app (import-linter contracts in ``pyproject.toml``); it is not
deployed (``.funcignore``).
"""
