"""reuse checks (being written)."""
