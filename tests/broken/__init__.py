"""Deliberately broken variants of the reference server, one defect each, named after the defect.

Each module exposes ``create_app(settings, store=None, *, clock=None)`` (same signature as
``tokenconform_server.app.create_app``) and a docstring naming the requirement it breaks. The
conformance tests start each variant on 127.0.0.1:0 and show the matching check FAILING on it.
"""
