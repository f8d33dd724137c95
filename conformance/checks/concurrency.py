"""concurrency checks (being written)."""
