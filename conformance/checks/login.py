"""login checks (being written)."""
