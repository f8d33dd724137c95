"""Validate and normalise email addresses, so one mailbox is one account however it is spelled.

Issue 8: ``user@example.com`` with a zero-width space, with fullwidth letters or with other
Unicode tricks registered as separate accounts that look identical on screen. Addresses go
through ``email-validator`` (syntax per RFC 5321/5322, domain per IDNA 2008 with UTS #46
mapping) with these choices:

- The local part must be ASCII (``allow_smtputf8=False``): RFC 6531 internationalised local
  parts are where invisible and look-alike characters hide, and a reference server does not need
  them. Invisible characters anywhere (zero-width space, soft hyphen, word joiner, bidi
  controls...) are refused by name.
- The domain is mapped and stored in its ASCII form: fullwidth ``ｅｘａｍｐｌｅ.com`` becomes
  ``example.com`` (UTS #46 mapping), and a homograph such as a Cyrillic ``а`` is stored, and
  shown back, as its ``xn--`` A-label, which no longer looks like the Latin one.
- No DNS: deliverability checks are off (``check_deliverability=False``); the server must not
  depend on the network to register a user.
- ``.test`` (RFC 6761 §6.2) is accepted, through ``test_environment=True``: the conformance
  suite registers ``tc_<hex>@example.test``. The other special-use names (``.invalid``,
  ``.localhost``, ``.local``, ...) stay refused.

Uniqueness stays case-insensitive for ASCII (the ``users.email`` column is ``COLLATE NOCASE``),
which is all that is left once the local part is ASCII and the domain is an A-label.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

__all__ = ["InvalidEmail", "normalize_email"]

#: Unicode general categories that render as nothing or move text around: format characters
#: (zero-width space and joiners, soft hyphen, bidi controls, the BOM), controls, separators
#: other than the plain space, private use and unassigned code points, and lone surrogates.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Zl", "Zp", "Co", "Cn", "Cs"})


class InvalidEmail(ValueError):
    """The address is not acceptable; the message says why, for a 422."""


def _invisible(value: str) -> list[str]:
    found = []
    for char in value:
        category = unicodedata.category(char)
        if category in _INVISIBLE_CATEGORIES or (category == "Zs" and char != " "):
            found.append(f"U+{ord(char):04X}")
    return found


def normalize_email(value: str) -> str:
    """The canonical form of ``value`` (surrounding whitespace stripped, domain lower-cased and
    in ASCII), or :class:`InvalidEmail`.

    Two spellings of one mailbox that differ only by Unicode tricks either normalise to the same
    string or are refused.
    """
    value = value.strip()
    hidden = _invisible(value)
    if hidden:
        raise InvalidEmail(f"email must not contain invisible characters ({', '.join(sorted(set(hidden)))})")
    try:
        result = validate_email(
            value,
            allow_smtputf8=False,
            check_deliverability=False,
            test_environment=True,
        )
    except EmailNotValidError as exc:
        raise InvalidEmail(f"email is not a valid address: {exc}") from None
    ascii_email = result.ascii_email
    if ascii_email is None:  # only for SMTPUTF8 addresses, which allow_smtputf8=False refuses
        raise InvalidEmail("email is not a valid address")
    return str(ascii_email)
