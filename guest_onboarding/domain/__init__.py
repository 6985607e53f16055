"""The domain: plain values and rules, no I/O, no vendor SDK.

- :mod:`.invitation`: what an invitation says (one value object, carried unchanged from the HR
  message to the ledger row and the Graph request), the validated command, step keys, object ids;
- :mod:`.ledger`: the guest's ledger row, its statuses, the claim lease and the replication wait;
- :mod:`.changes`: every write to a row, a typed change named by intent, or a new row;
- :mod:`.schedule`: when a reminder is due, when a guest expires, and what happens then;
- :mod:`.policy`: the allow-lists a message is checked against;
- :mod:`.redirects`: redirect URLs matched as URLs;
- :mod:`.content`: what a display name and an invitation's message may say;
- :mod:`.links`: every link a reader could follow in a text (for :mod:`.content`);
- :mod:`.addresses`: the one canonical form of an address, and masking for logs;
- :mod:`.outcomes`: what a delivery did, for the handlers, the log lines and telemetry.
"""
