"""Static checks of infra/: Bicep parsing, checkov, and the code <-> infra contract."""
