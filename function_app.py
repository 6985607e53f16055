"""The Functions app (Python v2 programming model): one blueprint per function folder.

Importing this module must stay cheap (it is what the host indexes on every cold start): the
blueprints import only ``azure.functions``; the onboarding code, pydantic, msgraph and the
Storage SDKs load on the first invocation.
"""

import azure.functions as func

from assign_fn import bp as assign_bp
from guest_onboarding.config import Settings
from invite_fn import bp as invite_bp
from resend_timer_fn import bp as resend_timer_bp

# A malformed setting stops the app at start-up, naming the setting, while the messages wait on
# their queue; found at the first message instead, it would push every message through its
# retries. (config imports only the standard library: indexing stays cheap.)
Settings.from_env()

app = func.FunctionApp()
app.register_functions(invite_bp)
app.register_functions(assign_bp)
app.register_functions(resend_timer_bp)
