"""Development and test tooling (not shipped with any service)."""
