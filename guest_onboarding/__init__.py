"""Onboarding of external guests into a Microsoft Entra ID tenant (B2B collaboration).

Layers, imports pointing one way (see README, "Architecture"):

    messages, domain, errors          plain data and rules, no I/O
        ^
    handlers                          one small function per step, talking to ports
        ^
    adapters (graph, ledger, queues)  the only modules that import vendor SDKs
        ^
    bootstrap                         the composition root; the only reader of settings
        ^
    entrypoints                       what the function triggers call
"""
