"""The local development stack: Azurite, the Graph emulator, the demo and the enqueue CLI."""
