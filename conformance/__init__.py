"""tokenconform: a conformance suite for JWT access/refresh-token session APIs."""

__version__ = "0.1.0"
