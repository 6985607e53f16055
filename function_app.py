"""The Functions app (Python v2 programming model): one blueprint per function folder.

Importing this module must stay cheap (it is what the host indexes on every cold start): the
blueprints import only ``azure.functions``; the onboarding code, pydantic, msgraph and the
Storage SDKs load on the first invocation.
"""

import azure.functions as func

from assign_fn import bp as assign_bp
from invite_fn import bp as invite_bp
from resend_timer_fn import bp as resend_timer_bp

app = func.FunctionApp()
app.register_functions(invite_bp)
app.register_functions(assign_bp)
app.register_functions(resend_timer_bp)
