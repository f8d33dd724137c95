"""protected checks (being written)."""
