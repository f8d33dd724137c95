"""The tokenconform contract: OpenAPI document, requirements catalogue and schemas."""
