"""expiry checks (being written)."""
