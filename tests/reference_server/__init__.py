"""Unit and HTTP tests of the reference server, one module per module of the package."""
