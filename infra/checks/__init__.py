"""Static checks of the infrastructure templates against the code (run by tests/infra)."""
