"""logout checks (being written)."""
