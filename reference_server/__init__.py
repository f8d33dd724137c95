"""The tokenconform reference server: the access/refresh-token session API, done exactly."""

__version__ = "0.1.0"
