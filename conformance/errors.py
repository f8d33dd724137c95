"""The exceptions of tokenconform: the tool's own trouble apart from the target's failures.

TokenconformError              our own trouble: pytest reports *error*, the CLI exits 2
 +-- UsageError                bad command-line use
 +-- ProfileError              an invalid profile, naming the key path at fault
 +-- TargetUnreachable         no TCP/TLS/HTTP conversation with the target at all
 +-- TargetError               the target answered something a check cannot interpret
      +-- CalibrationError     the oracle itself does not hold (a valid token fails, ...)
RequirementFailed(AssertionError)   the target broke a requirement: pytest reports *failed*
CheckSkipped                   the check cannot apply here (reason says why / how to enable)
DeviationDeclared              the profile declares exactly this deviation
"""

from __future__ import annotations

from collections.abc import Sequence


class TokenconformError(Exception):
    """Root of every error that is the tool's (or its input's) trouble, not the target's failure."""


class UsageError(TokenconformError):
    """The command line asks for something that cannot be done."""


class ProfileError(TokenconformError):
    """A profile is invalid; raised before any request is sent."""

    def __init__(self, message: str, *, key_path: str = "", source: str = "") -> None:
        super().__init__(message)
        #: dotted path of the offending key, e.g. ``refresh.present[1]``
        self.key_path = key_path
        #: the file (or built-in profile name) being read
        self.source = source
        self.message = message

    def __str__(self) -> str:
        where = self.source or "profile"
        if self.key_path:
            where = f"{where}: {self.key_path}"
        return f"{where}: {self.message}"


class TargetUnreachable(TokenconformError):
    """The target could not be reached at all (connection refused, DNS, TLS, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"target unreachable: {self.url}: {self.reason}"


class TargetError(TokenconformError):
    """The target answered, but not in a way the check can interpret."""

    def __init__(self, message: str, *, evidence: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        #: the exchanges that led here, rendered with tokens shortened
        self.evidence = tuple(evidence)

    def __str__(self) -> str:
        return self.message


class CalibrationError(TargetError):
    """The baseline a negative check relies on does not hold, so no verdict is possible."""


class RequirementFailed(AssertionError):
    """The target does not meet the requirement under check."""

    def __init__(
        self,
        message: str,
        *,
        expected: str = "",
        actual: str = "",
        evidence: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.evidence = tuple(evidence)

    def __str__(self) -> str:
        parts = [self.message]
        if self.expected:
            parts.append(f"expected: {self.expected}")
        if self.actual:
            parts.append(f"actual: {self.actual}")
        return "; ".join(parts)


class CheckSkipped(Exception):
    """The check cannot apply to this target; the reason says why and, if possible, how to enable it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeviationDeclared(Exception):
    """The profile declares this deviation: reported as ``declared``, never as a pass."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
