"""Report writers: pure functions from a run's results to text."""
