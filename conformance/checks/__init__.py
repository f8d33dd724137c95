"""All conformance checks; importing this package registers every one of them."""
