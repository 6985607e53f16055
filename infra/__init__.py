"""Infrastructure as code (Bicep for azd) and its static checks."""
