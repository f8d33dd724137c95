"""cookies checks (being written)."""
