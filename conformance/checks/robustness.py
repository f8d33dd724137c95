"""robustness checks (being written)."""
