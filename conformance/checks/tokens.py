"""tokens checks (being written)."""
