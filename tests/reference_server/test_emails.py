"""Email validation and normalisation: one mailbox, one account (regression tests for issue 8)."""

from __future__ import annotations

import pytest

from tokenconform_server.emails import InvalidEmail, normalize_email

from .conftest import PASSWORD, Api


@pytest.mark.parametrize(
    ("spelling", "normalised"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  ann@Example.COM ", "ann@example.com"),
        # Fullwidth letters in the domain: UTS #46 maps them to ASCII.
        ("ann@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "ann@example.com"),
        # A homograph domain (Cyrillic а) is stored as its A-label, which looks like nothing else.
        ("ann@ex\u0430mple.com", "ann@xn--exmple-4nf.com"),
        # The conformance suite's addresses: .test is special-use (RFC 6761 §6.2) but accepted.
        ("tc_0123abcd@example.test", "tc_0123abcd@example.test"),
    ],
)
def test_spellings_normalise(spelling: str, normalised: str) -> None:
    assert normalize_email(spelling) == normalised


@pytest.mark.parametrize(
    "spelling",
    [
        "an\u200bn@example.com",  # zero-width space
        "ann@example.com\u200b",
        "an\u00adn@example.com",  # soft hyphen
        "an\u2060n@example.com",  # word joiner
        "\u202eann@example.com",  # right-to-left override
        "ann\ufeff@example.com",  # byte order mark
        "\uff41\uff4e\uff4e@example.com",  # fullwidth local part
        "\u0430nn@example.com",  # Cyrillic а in the local part
        "ann\u00a0@example.com",  # no-break space
        "not an address",
        "ann@localhost",
        "ann@example.invalid",
        "ann@@example.com",
    ],
)
def test_look_alikes_and_invalid_addresses_are_refused(spelling: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(spelling)


def test_no_dns_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Deliverability checks are off: a domain that resolves nowhere is still a valid address.
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("DNS lookup attempted")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert normalize_email("ann@no-such-domain-tokenconform.example") == "ann@no-such-domain-tokenconform.example"


def _register(api: Api, username: str, email: str) -> int:
    body = {"username": username, "email": email, "password": PASSWORD, "fullName": "Ann"}
    return api.request("POST", "/register", json_body=body).status


def test_look_alike_registrations_are_one_account_or_refused(api: Api) -> None:
    """Issue 8: zero-width characters and fullwidth letters registered separate accounts."""
    assert _register(api, "ann", "ann@example.com") == 201
    assert _register(api, "ann2", "ANN@EXAMPLE.COM") == 409
    assert _register(api, "ann3", "ann@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com") == 409
    assert _register(api, "ann4", "an\u200bn@example.com") == 422
    assert _register(api, "ann5", "\uff41\uff4e\uff4e@example.com") == 422


def test_login_accepts_any_spelling_of_the_normalised_address(api: Api) -> None:
    assert _register(api, "bob", "bob@example.com") == 201
    for spelling in ("bob@example.com", " Bob@Example.com", "bob@\uff45xample.com"):
        reply = api.request("POST", "/login", json_body={"email": spelling, "password": PASSWORD})
        assert reply.status == 200, spelling
        assert reply.json()["user"]["email"] == "bob@example.com"
    # An unusable spelling is simply wrong credentials, with the same 401 as any other.
    reply = api.request("POST", "/login", json_body={"email": "bo\u200bb@example.com", "password": PASSWORD})
    assert reply.status == 401
