"""azd hooks (azure.yaml): small scripts run by azd around provisioning."""
