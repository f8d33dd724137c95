"""CheckContext: what a check gets: the profile, fresh users and devices, the clock, and waits.

Every destructive check takes a fresh device (its own login, its own jar) so that reuse
detection or logout in one check never poisons another. Evidence is recorded per check.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from .device import Device, Exchange, Tokens, User, decode_unverified
from .errors import CalibrationError, CheckSkipped, TargetError, UsageError
from .profile import Profile
from .redact import Secrets


@dataclass(frozen=True)
class RunConfig:
    """Everything about a run that is not the profile: where, how long, how strict."""

    target: str
    timeout: float = 10.0
    #: extra headers on every request (an API gateway key, ...)
    headers: Mapping[str, str] = field(default_factory=dict)
    #: False for --insecure, a path for --ca-bundle, True otherwise
    verify: bool | str = True
    #: the longest TTL wait the run accepts; longer ones skip with a reason
    max_wait: float = 30.0
    #: concurrent requests per race round (CON-01) and rounds
    concurrency: int = 16
    rounds: int = 3
    #: opt-in switches (e.g. "timing")
    opt_in: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Wait:
    """What a timed check yields: resume me at ``deadline`` (local clock)."""

    deadline: float
    reason: str


#: Seconds of slack on top of a token's exp before we call it expired (covers leeways and
#: scheduling on a loaded machine).
EXPIRY_SLACK = 1.5


class DeviceGroup:
    """The devices one check (or one round of it) uses, closed when the block ends.

    The engine releases connections after every check; a check that makes many devices per
    round (races, repeated logins) uses a group so its rounds do not pile connections up.
    """

    def __init__(self, ctx: CheckContext) -> None:
        self.ctx = ctx
        self.made: list[Device] = []

    def new(self, user: User | None = None, *, label: str) -> Device:
        device = self.ctx.new_device(user, label=label)
        self.made.append(device)
        return device

    def __enter__(self) -> DeviceGroup:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for device in self.made:
            device.close()


class CheckContext:
    """The single argument of every check."""

    def __init__(
        self,
        profile: Profile,
        config: RunConfig,
        *,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.config = config
        self.clock = clock
        self.environ = os.environ if environ is None else environ
        self._evidence: list[Exchange] = []
        self._evidence_lock = threading.Lock()
        self._devices: list[Device] = []
        self._calibrated = False
        self._calibration_lock = threading.Lock()
        #: server clock minus local clock, seconds (from Date headers and iat), once measured
        self.skew: float | None = None
        #: token -> the double-submit CSRF value issued with it (profiles with [csrf])
        self._csrf: dict[str, str] = {}
        #: None until probed; True when the target issues identical tokens to one user within a
        #: second (no jti): then logins and refreshes of a user are spaced a second apart
        self.identical_within_a_second: bool | None = None
        self._issuance_lock = threading.RLock()
        #: username -> local time the last tokens issued to that user arrived
        self._last_issuance: dict[str, float] = {}
        #: every secret this run sent or received, redacted from reports (conformance/redact.py)
        self.secrets = Secrets.for_run(self.environ, config.headers)

    # ---- evidence

    def record(self, exchange: Exchange) -> None:
        self.secrets.observe(exchange)
        with self._evidence_lock:
            self._evidence.append(exchange)

    def record_first(self, exchange: Exchange) -> None:
        with self._evidence_lock:
            self._evidence.insert(0, exchange)

    def take_evidence(self) -> list[Exchange]:
        """The exchanges recorded since the last call (the engine calls this per check)."""
        with self._evidence_lock:
            taken, self._evidence = self._evidence, []
        return taken

    # ---- double-submit CSRF values, kept with the token they were issued with

    def remember_csrf(self, token: str, value: str) -> None:
        with self._evidence_lock:
            self._csrf[token] = value

    def csrf_value_for(self, token: str) -> str | None:
        with self._evidence_lock:
            return self._csrf.get(token)

    # ---- users and devices

    def new_user(self) -> User:
        """A user to log in as: a freshly registered one, or the env-configured one."""
        if self.profile.register is not None:
            tag = secrets.token_hex(6)
            user = User(
                username=f"tc_{tag}",
                email=f"tc_{tag}@example.test",
                password=f"Tc-{secrets.token_urlsafe(12)}",
            )
            self.secrets.add_password(user.password)
            device = self._make_device(user, "registrar")
            try:
                exchange = device.register()
            finally:
                device.close()
            if exchange.status not in self.profile.register.endpoint.success_status:
                raise TargetError(
                    f"registering a fresh user failed: got {exchange.status}",
                    evidence=[exchange.describe()],
                )
            return user
        return self.configured_user(1)

    def configured_user(self, number: int) -> User:
        suffix = "" if number == 1 else f"_{number}"
        name = self.environ.get(f"TOKENCONFORM_USERNAME{suffix}")
        password = self.environ.get(f"TOKENCONFORM_PASSWORD{suffix}")
        if not name or not password:
            raise CheckSkipped(
                f"the profile has no [register] endpoint: set TOKENCONFORM_USERNAME{suffix} and "
                f"TOKENCONFORM_PASSWORD{suffix} to the credentials of a test account"
            )
        self.secrets.add_password(password)
        return User(username=name, email=name, password=password)

    def own_account(self) -> User:
        """An account no other check uses: a fresh one, or TOKENCONFORM_USERNAME_3 when set.

        Without either, the first configured account: callers run after every other check.
        """
        if self.profile.register is not None:
            return self.new_user()
        if self.environ.get("TOKENCONFORM_USERNAME_3") and self.environ.get("TOKENCONFORM_PASSWORD_3"):
            return self.configured_user(3)
        return self.configured_user(1)

    def second_user(self) -> User:
        """A user other than new_user()'s (for checks that need two accounts)."""
        if self.profile.register is not None:
            return self.new_user()
        return self.configured_user(2)

    def new_device(self, user: User | None = None, *, label: str = "device") -> Device:
        """A fresh client with its own cookie jar, for ``user`` (a fresh user when omitted)."""
        return self._make_device(user or self.new_user(), label)

    def _make_device(self, user: User, label: str) -> Device:
        device = Device(ctx=self, user=user, label=label)
        self._devices.append(device)
        return device

    def client_credentials(self) -> tuple[str, str]:
        client_id = self.environ.get("TOKENCONFORM_CLIENT_ID")
        client_secret = self.environ.get("TOKENCONFORM_CLIENT_SECRET", "")
        if not client_id:
            raise UsageError(
                "the profile uses client authentication: set TOKENCONFORM_CLIENT_ID and TOKENCONFORM_CLIENT_SECRET"
            )
        self.secrets.add_password(client_secret)
        return client_id, client_secret

    def release_connections(self) -> None:
        """Close every device's idle connections; the devices stay usable.

        The engine calls this after each check (and before each TTL wait): a whole run keeps
        hundreds of devices, and their keep-alive connections would exhaust the target's
        connection limit long before the run ends.
        """
        for device in list(self._devices):
            device.close()

    def close(self) -> None:
        self.release_connections()
        self._devices.clear()

    # ---- issuance spacing (one root cause, one failure: TOK-11)

    def space_issuance(self, device: Device) -> None:
        """Before a login or refresh: on a target that mints identical tokens within a second, wait
        until this user's last issuance is in an earlier second.

        TOK-11 reports that defect once; without the spacing, every rotation and reuse check would
        fail again for it ("refresh returned the presented token") and hide their own verdicts.
        """
        with self._issuance_lock:
            if self.identical_within_a_second is None:
                self.identical_within_a_second = self._probe_identical_issuance(device)
            last = self._last_issuance.get(device.user.username)
        if self.identical_within_a_second and last is not None:
            # Any instant a second after the previous response arrived lies in a later server
            # second than that issuance, whatever the clocks' offset.
            delay = last + 1.05 - self.clock()
            if delay > 0:
                time.sleep(delay)

    def note_issuance(self, user: User, exchange: Exchange) -> None:
        with self._issuance_lock:
            self._last_issuance[user.username] = exchange.received_at

    def _probe_identical_issuance(self, device: Device) -> bool:
        """Two logins of one user back to back: identical tokens with one iat mean no jti."""
        for _ in range(3):
            first = device.login_exchange()
            second = device.login_exchange()
            if not (first.ok and second.ok):
                return False
            try:
                a = device.tokens_from(first, what="login")
                b = device.tokens_from(second, what="login")
            except TargetError:
                return False
            if a.access_token != b.access_token and a.refresh_token != b.refresh_token:
                same_second = (a.access_claims or {}).get("iat") == (b.access_claims or {}).get("iat")
                if same_second or a.access_claims is None:
                    return False
                continue  # the two logins straddled a second boundary: no verdict, try again
            # Identical within a second, and different a second later: a same-second artefact
            # that spacing avoids. Identical even then is a target that reuses sessions (LGN-05
            # and CON-03 judge that); spacing would change nothing, so it stays off.
            delay = second.received_at + 1.05 - self.clock()
            if delay > 0:
                time.sleep(delay)
            later = device.login_exchange()
            if not later.ok:
                return False
            try:
                c = device.tokens_from(later, what="login")
            except TargetError:
                return False
            self.note_issuance(device.user, later)
            return c.access_token != b.access_token
        return False

    # ---- time

    def measure_skew(self, tokens: Tokens) -> float:
        """Server clock minus ours, from the iat of a fresh token (or the Date header)."""
        exchange = tokens.exchange
        claims = tokens.access_claims or {}
        iat = claims.get("iat")
        if isinstance(iat, (int, float)) and not isinstance(iat, bool):
            midpoint = (exchange.sent_at + exchange.received_at) / 2
            skew = float(iat) - midpoint
        elif exchange.server_date is not None:
            skew = exchange.server_date - exchange.received_at
        else:
            skew = 0.0
        # iat and Date have one-second resolution: a |skew| under 1.5 s is noise.
        self.skew = 0.0 if abs(skew) < 1.5 else skew
        return self.skew

    def server_now(self) -> float:
        return self.clock() + (self.skew or 0.0)

    def expiry_deadline(self, exp: float) -> float:
        """Local-clock instant by which a token with this ``exp`` must be dead."""
        return exp - (self.skew or 0.0) + EXPIRY_SLACK

    def wait_until(self, deadline: float, reason: str) -> Wait:
        """A Wait for a timed check to yield, or CheckSkipped when it exceeds --max-wait."""
        delay = deadline - self.clock()
        if delay > self.config.max_wait:
            raise CheckSkipped(
                f"{reason} needs a wait of {delay:.0f} s, over --max-wait {self.config.max_wait:.0f} s; "
                f"run with --max-wait {int(delay) + 5} or against a deployment with shorter TTLs"
            )
        return Wait(deadline=deadline, reason=reason)

    def require_unexpired(self, expiry: Mapping[str, Any] | float | None, at: float, what: str) -> None:
        """A verdict on a token is only fair while it had not reached its lifetime by ``at``.

        ``expiry`` is a token's claims or its server-epoch expiry (``Tokens.access_expiry``, which
        also covers opaque tokens through expires_in). A rejection of an expired token shows no
        revocation, and its refusal is no defect: the check has no verdict and skips, saying
        which setting would let it run (a loaded machine and short TTLs make this happen).
        """
        if isinstance(expiry, Mapping):
            exp = expiry.get("exp")
            expiry = float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None
        if expiry is not None and at >= expiry - (self.skew or 0.0) - 0.5:
            raise CheckSkipped(
                f"{what} reached its lifetime (expires {expiry:.0f}) before it was presented, so the "
                "target's answer says nothing; run against a deployment with longer token lifetimes"
            )

    def token_is_jwt(self, token: str) -> bool:
        """Whether JWT-only checks apply: the profile's tokens.format, or the token itself on "auto"."""
        if self.profile.token_format != "auto":
            return self.profile.token_format == "jwt"
        return decode_unverified(token) is not None

    def require_jwt(self, token: str, what: str) -> None:
        """JWT-only checks skip on opaque tokens, which are legitimate (RFC 6749 §1.4, RFC 7662)."""
        if not self.token_is_jwt(token):
            how = (
                'the profile declares tokens.format = "opaque"'
                if self.profile.token_format == "opaque"
                else (f"the {what} is not a JWT")
            )
            raise CheckSkipped(f"{how}: opaque tokens are legitimate and this check judges JWT contents")

    # ---- calibration

    def calibrate(self) -> None:
        """The oracle every negative check relies on (jwt_tool's prescan), checked once per run.

        A fresh access token opens the protected resource by every declared presentation and no
        token is refused. Otherwise every dependent check reports error, not failed.
        """
        with self._calibration_lock:
            if self._calibrated:
                return
            device = self.new_device(label="calibration")
            tokens = device.login()
            self.measure_skew(tokens)
            for via in self.profile.protected.present:
                exchange = device.call_protected(tokens.access_token, via=via)
                if not exchange.ok:
                    raise CalibrationError(
                        f"calibration: a fresh access token presented by {via} was refused "
                        f"({exchange.status}){_other_scheme(exchange.header('WWW-Authenticate'), via)}; "
                        "check the profile's [protected] and [tokens] sections",
                        evidence=[exchange.describe()],
                    )
            anonymous = device.call_protected(None)
            if anonymous.ok:
                raise CalibrationError(
                    f"calibration: {self.profile.protected.endpoint.path} answered {anonymous.status} "
                    "without any token, so rejections cannot be told from acceptance; "
                    "point [protected] at a route that requires authentication",
                    evidence=[anonymous.describe()],
                )
            self._calibrated = True


def _other_scheme(challenge: str | None, via: str) -> str:
    """Why a bearer presentation may have been refused: the target names another scheme.

    Some libraries are set up with their own scheme word (djoser's documented ``JWT``,
    ``Token``); tokenconform presents tokens as RFC 6750 ``Bearer`` only, so name it plainly.
    """
    if via != "bearer" or not challenge:
        return ""
    scheme = challenge.strip().split(None, 1)[0].rstrip(",")
    if scheme.lower() == "bearer":
        return ""
    return (
        f"; the target's challenge asks for the {scheme!r} scheme (WWW-Authenticate: {challenge.strip()[:60]}), "
        "and tokens are presented as RFC 6750 'Bearer' only: configure the target to accept Bearer"
    )
