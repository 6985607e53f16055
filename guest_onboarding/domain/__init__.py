"""The domain: plain values and rules, no I/O, no vendor SDK.

- :mod:`.invitation`: what an invitation says (one value object, carried unchanged from the HR
  message to the ledger row and the Graph request), the validated command, step keys;
- :mod:`.ledger`: the guest's ledger row, its statuses and the typed changes written to it;
- :mod:`.policy`: the allow-lists a message is checked against;
- :mod:`.schedule`: when a reminder is due and when a guest expires;
- :mod:`.addresses`: the one canonical form of an address, and masking for logs.
"""
