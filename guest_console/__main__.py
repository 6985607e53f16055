"""``python -m guest_console``: the same as the installed ``guest-onboarding`` command."""

from __future__ import annotations

from guest_console.cli import main

raise SystemExit(main())
