"""The suite's HTTP device: one client instance with its own cookie jar, speaking a profile's API.

Each Device keeps its own jar (see cookies.py for why requests' jar is not used) and writes the
``Cookie`` header itself. A presentation is explicit: a token sent as a Bearer header is never
also sent as a cookie, so a forged header can never pass on the strength of a valid cookie (and
the reverse).
"""

from __future__ import annotations

import http.cookiejar
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import requests

from .cookies import SetCookie, parse_set_cookie
from .errors import TargetError
from .evidence import Exchange, decode_unverified, shorten
from .token_wire import basic_authorization
from .transport import MAX_BODY_BYTES, round_trip

if TYPE_CHECKING:
    from .context import CheckContext
    from .profile import Profile

__all__ = ["Device", "Exchange", "SetCookie", "Tokens", "User", "decode_unverified", "shorten"]


@dataclass(frozen=True)
class Tokens:
    """The tokens one login or refresh response delivered, wherever the profile says they are."""

    access_token: str
    refresh_token: str
    exchange: Exchange
    #: where each token was found: subsets of {"body", "cookie"}
    access_sources: frozenset[str] = frozenset()
    refresh_sources: frozenset[str] = frozenset()
    #: when each token stops working, server epoch seconds: its exp, else the response's
    #: expires_in, else the profile's configured TTL; None when nothing says
    access_expiry: float | None = None
    refresh_expiry: float | None = None

    @property
    def access_claims(self) -> dict[str, Any] | None:
        decoded = decode_unverified(self.access_token)
        return None if decoded is None else decoded[1]

    @property
    def refresh_claims(self) -> dict[str, Any] | None:
        decoded = decode_unverified(self.refresh_token)
        return None if decoded is None else decoded[1]

    @property
    def access_header(self) -> dict[str, Any] | None:
        decoded = decode_unverified(self.access_token)
        return None if decoded is None else decoded[0]

    @property
    def refresh_header(self) -> dict[str, Any] | None:
        decoded = decode_unverified(self.refresh_token)
        return None if decoded is None else decoded[0]


@dataclass(frozen=True)
class User:
    username: str
    email: str
    password: str

    def login_name(self, identifier: str) -> str:
        return self.email if identifier == "email" else self.username


def _json_path(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return document


# ---------------------------------------------------------------- the device


@dataclass
class Device:
    """One client instance (a browser, an app): its own connection pool and its own cookie jar."""

    ctx: CheckContext
    user: User
    label: str = "device"
    jar: dict[str, str] = field(default_factory=dict)
    history: list[Exchange] = field(default_factory=list)
    _session: requests.Session = field(default_factory=lambda: _jarless_session())
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def profile(self) -> Profile:
        return self.ctx.profile

    def close(self) -> None:
        self._session.close()

    # ---- low level

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        raw_body: bytes | None = None,
        cookies: Mapping[str, str] | None = None,
        omit_cookies: Iterable[str] = (),
        use_jar: bool = True,
        presented: str = "",
        session: requests.Session | None = None,
    ) -> Exchange:
        """Send one request; cookies are the jar (minus ``omit_cookies``) overlaid with ``cookies``.

        ``use_jar=False`` is for requests that present exactly one token, or nothing: they carry
        no jar cookie but the double-submit CSRF ones (not credentials), so a cookie the profile
        does not name (an undeclared token cookie, a framework session) cannot stand in for the
        credential under test.
        """
        config = self.ctx.config
        url = urljoin(config.target.rstrip("/") + "/", path.lstrip("/"))
        request_headers = {"User-Agent": f"tokenconform/{self.label}", "Accept": "application/json"}
        request_headers.update(config.headers)
        request_headers.update(headers or {})
        omitted = set(omit_cookies)
        with self._lock:
            carried = self.jar if use_jar else {k: v for k, v in self.jar.items() if k in self._csrf_cookie_names()}
            outgoing = {k: v for k, v in carried.items() if k not in omitted}
        outgoing.update(cookies or {})
        if outgoing:
            request_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in outgoing.items())
        data: bytes | None = None
        body_text = ""
        if json_body is not None:
            body_text = json.dumps(json_body)
            data = body_text.encode()
            request_headers.setdefault("Content-Type", "application/json")
        elif form is not None:
            from urllib.parse import urlencode

            body_text = urlencode(form)
            data = body_text.encode()
            request_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif raw_body is not None:
            data = raw_body
            body_text = raw_body[:200].decode("utf-8", errors="replace")
        sent_at = self.ctx.clock()
        answer = round_trip(
            session or self._session, method, url, headers=request_headers, data=data,
            timeout=config.timeout, verify=config.verify,
        )  # fmt: skip
        exchange = Exchange(
            method=method,
            url=url,
            presented=presented,
            request_body=body_text,
            status=answer.status,
            headers=answer.headers,
            set_cookies=tuple(parse_set_cookie(c) for c in answer.set_cookies),
            body=answer.body,
            sent_at=sent_at,
            received_at=self.ctx.clock(),
        )
        self._absorb_cookies(exchange)
        self.history.append(exchange)
        self.ctx.record(exchange)
        if answer.truncated:
            raise TargetError(
                f"{method} {url} answered {answer.status} with a body over {MAX_BODY_BYTES // 1024} KiB; the suite "
                "reads no more than that of any response",
                evidence=[exchange.describe()],
            )
        return exchange

    def _absorb_cookies(self, exchange: Exchange) -> None:
        date = exchange.server_date or exchange.received_at
        with self._lock:
            for cookie in exchange.set_cookies:
                if cookie.deletes(date) or cookie.value == "":
                    self.jar.pop(cookie.name, None)
                else:
                    self.jar[cookie.name] = cookie.value

    def _csrf_cookie_names(self) -> frozenset[str]:
        csrf = self.profile.csrf
        if csrf is None:
            return frozenset()
        return frozenset(n for n in (csrf.access_cookie, csrf.refresh_cookie) if n)

    def csrf_headers(self, kind: str, token: str) -> dict[str, str]:
        """The double-submit header a request authenticated by ``token`` (an "access" or
        "refresh" token) carries, when the profile has [csrf]."""
        csrf = self.profile.csrf
        if csrf is None:
            return {}
        return self._csrf_headers(csrf.access_cookie if kind == "access" else csrf.refresh_cookie, token)

    def _csrf_headers(self, cookie_name: str, token: str | None) -> dict[str, str]:
        """The double-submit header for presenting ``token``.

        The CSRF value issued with that very token wins over this device's jar: whoever holds
        a token (a thief, a racing client, this device after logout emptied its jar) holds its
        readable CSRF cookie too, so a replay must not be refused merely for a missing header.
        """
        csrf = self.profile.csrf
        if csrf is None or not cookie_name:
            return {}
        value = self.ctx.csrf_value_for(token) if token else None
        if value is None:
            value = self.jar.get(cookie_name)
        return {} if value is None else {csrf.header: value}

    # ---- the profile's operations

    def register(self) -> Exchange:
        spec = self.profile.register
        assert spec is not None, "profile has no [register]"
        values = {"username": self.user.username, "email": self.user.email, "password": self.user.password}
        body = {k: v.format(**values) for k, v in spec.fields.items()}
        return self.post_endpoint(spec.endpoint, body, presented="")

    def login_exchange(self, *, password: str | None = None, login_name: str | None = None) -> Exchange:
        spec = self.profile.login
        identifier = self.profile.register.login_identifier if self.profile.register else "username"
        body = dict(spec.extra)
        body[spec.username_field] = login_name if login_name is not None else self.user.login_name(identifier)
        body[spec.password_field] = self.user.password if password is None else password
        return self.post_endpoint(spec.endpoint, body, presented="")

    def login(self, *, spaced: bool = True) -> Tokens:
        """Log in; a response that is not a success with both tokens is a TargetError.

        ``spaced=False`` is for TOK-11, which must see what same-second issuances give.
        """
        if spaced:
            self.ctx.space_issuance(self)
        exchange = self.login_exchange()
        self.ctx.note_issuance(self.user, exchange)
        if exchange.status not in self.profile.login.endpoint.success_status:
            raise TargetError(
                f"login failed: expected {list(self.profile.login.endpoint.success_status)}, got {exchange.status}",
                evidence=[exchange.describe()],
            )
        return self.tokens_from(exchange, what="login")

    def tokens_from(self, exchange: Exchange, *, what: str, presented: str | None = None) -> Tokens:
        """Both tokens of a login/refresh response, from the body and/or cookies the profile names.

        RFC 6749 §6 lets a refresh answer without a new refresh token: then ``presented`` stands
        in, with empty ``refresh_sources``, and the rotation checks judge it (never an error).
        """
        access, access_sources = self._find_token(exchange, self.profile.tokens_access)
        refresh, refresh_sources = self._find_token(exchange, self.profile.tokens_refresh)
        if not refresh and presented:
            refresh = presented
        if not access or not refresh:
            missing = "access token" if not access else "refresh token"
            raise TargetError(
                f"{what} answered {exchange.status} but carried no {missing} where the profile says "
                f"(tokens.{'access' if not access else 'refresh'})",
                evidence=[exchange.describe()],
            )
        csrf = self.profile.csrf
        if csrf is not None:
            for token, cookie_name in ((access, csrf.access_cookie), (refresh, csrf.refresh_cookie)):
                cookie = exchange.cookie(cookie_name) if cookie_name else None
                if cookie is not None and cookie.value:
                    self.ctx.remember_csrf(token, cookie.value)
        # Every token the run sees is a secret its reports must not show in full (opaque ones and
        # body fields with unusual names included, which pattern matching would miss).
        self.ctx.secrets.add_token(access)
        self.ctx.secrets.add_token(refresh)
        policy = self.profile.policy
        return Tokens(
            access_token=access,
            refresh_token=refresh,
            exchange=exchange,
            access_sources=access_sources,
            refresh_sources=refresh_sources,
            access_expiry=self._expiry(
                access, exchange, self.profile.tokens_access.expires_in or "expires_in", policy.access_ttl
            ),
            # A refresh without a new refresh token (RFC 6749 §6) leaves the presented one in use,
            # with the lifetime it always had: its exp if it shows one, else unknown.
            refresh_expiry=self._expiry(refresh, exchange, self.profile.tokens_refresh.expires_in, policy.refresh_ttl)
            if refresh_sources
            else self._expiry(refresh, exchange, "", 0),
        )

    def _expiry(self, token: str, exchange: Exchange, lifetime_field: str, configured_ttl: int) -> float | None:
        """Server-epoch instant at which ``token`` expires, from the best evidence there is."""
        decoded = decode_unverified(token)
        if decoded is not None:
            exp = decoded[1].get("exp")
            if isinstance(exp, (int, float)) and not isinstance(exp, bool):
                return float(exp)
        lifetime: float | None = None
        if lifetime_field:
            value = _json_path(exchange.json, lifetime_field)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                lifetime = float(value)
        if lifetime is None and configured_ttl > 0:
            lifetime = float(configured_ttl)
        if lifetime is None:
            return None
        # The lifetime counts from issuance, which happened after we sent the request: counting
        # from sent_at errs early, so a token is never taken for alive when it may be dead.
        return exchange.sent_at + (self.ctx.skew or 0.0) + lifetime

    @staticmethod
    def _find_token(exchange: Exchange, location: Any) -> tuple[str, frozenset[str]]:
        found: dict[str, str] = {}
        if location.json:
            value = _json_path(exchange.json, location.json)
            if isinstance(value, str) and value:
                found["body"] = value
        if location.cookie:
            cookie = exchange.cookie(location.cookie)
            if cookie is not None and cookie.value:
                found["cookie"] = cookie.value
        value = found.get("body") or found.get("cookie") or ""
        return value, frozenset(found)

    def refresh_exchange(self, refresh_token: str | None, *, via: str | None = None) -> Exchange:
        """Present ``refresh_token`` at the refresh endpoint by ``via`` (default: the profile's first way).

        ``refresh_token=None`` presents nothing (the jar's refresh cookie is withheld too).
        """
        spec = self.profile.refresh
        via = via or spec.present[0]
        cookie_name = self.profile.tokens_refresh.cookie
        body: dict[str, str] = dict(spec.extra)
        cookies: dict[str, str] = {}
        headers = self._csrf_headers(self.profile.csrf.refresh_cookie if self.profile.csrf else "", refresh_token)
        presented = "nothing"
        self.ctx.secrets.add_token(refresh_token)
        if refresh_token is not None:
            if via == "cookie":
                cookies[cookie_name] = refresh_token
                presented = f"cookie {cookie_name}={shorten(refresh_token)}"
            elif via == "bearer":
                headers["Authorization"] = f"Bearer {refresh_token}"
                presented = f"Bearer {shorten(refresh_token)}"
            else:
                body[spec.field] = refresh_token
                presented = f"body {spec.field}={shorten(refresh_token)}"
        return self.post_endpoint(
            spec.endpoint,
            body,
            headers=headers,
            cookies=cookies,
            use_jar=False,
            presented=presented,
        )

    def refresh(self, refresh_token: str, *, via: str | None = None, spaced: bool = True) -> Tokens:
        """Refresh; anything but a success with both tokens is a TargetError."""
        if spaced:
            self.ctx.space_issuance(self)
        exchange = self.refresh_exchange(refresh_token, via=via)
        self.ctx.note_issuance(self.user, exchange)
        if exchange.status not in self.profile.refresh.endpoint.success_status:
            raise TargetError(
                f"refresh with a token that should be valid failed: got {exchange.status}",
                evidence=[exchange.describe()],
            )
        return self.tokens_from(exchange, what="refresh", presented=refresh_token)

    def call_protected(
        self,
        access_token: str | None,
        *,
        via: str | None = None,
        scheme: str = "Bearer",
        extra_headers: Mapping[str, str] | None = None,
        path: str | None = None,
        method: str | None = None,
        query: str = "",
    ) -> Exchange:
        """Call the protected resource presenting ``access_token`` by ``via`` only."""
        spec = self.profile.protected
        via = via or spec.present[0]
        cookie_name = self.profile.tokens_access.cookie
        headers = dict(extra_headers or {})
        cookies: dict[str, str] = {}
        # A credential the caller wrote itself (an empty or odd Authorization) is what was sent.
        written = next((value for name, value in headers.items() if name.lower() == "authorization"), None)
        presented = "nothing" if written is None else f"Authorization: {_credential_label(written)}"
        self.ctx.secrets.add_token(access_token)
        if access_token is not None:
            if via == "cookie":
                cookies[cookie_name] = access_token
                presented = f"cookie {cookie_name}={shorten(access_token)}"
            else:
                headers["Authorization"] = f"{scheme} {access_token}".rstrip() if access_token else scheme
                presented = f"{scheme} {shorten(access_token)}"
        target = (path or spec.endpoint.path) + (f"?{query}" if query else "")
        return self.send(
            method or spec.endpoint.method,
            target,
            headers=headers,
            cookies=cookies,
            use_jar=False,
            presented=presented,
        )

    def logout_exchange(self, tokens: Tokens | None, *, via: str | None = None, all_sessions: bool = False) -> Exchange:
        """Log out the session of ``tokens`` (None presents nothing) by ``via``."""
        spec = self.profile.logout_all if all_sessions else self.profile.logout
        assert spec is not None, "profile has no logout endpoint"
        via = via or spec.present[0]
        token = None
        if tokens is not None:
            token = tokens.access_token if spec.token == "access" else tokens.refresh_token
            self.ctx.secrets.add_token(token)
        access_cookie = self.profile.tokens_access.cookie
        refresh_cookie = self.profile.tokens_refresh.cookie
        cookie_name = access_cookie if spec.token == "access" else refresh_cookie
        headers: dict[str, str] = {}
        cookies: dict[str, str] = {}
        body: dict[str, str] | None = dict(spec.extra) if spec.extra else None
        presented = "nothing"
        if token is not None:
            if via == "bearer":
                headers["Authorization"] = f"Bearer {token}"
                presented = f"Bearer {shorten(token)}"
            elif via == "cookie":
                cookies[cookie_name] = token
                csrf = self.profile.csrf
                # The double-submit value issued with the token the logout is keyed on.
                csrf_cookie = ""
                if csrf is not None:
                    csrf_cookie = csrf.access_cookie if spec.token == "access" else csrf.refresh_cookie
                headers.update(self._csrf_headers(csrf_cookie, token))
                presented = f"cookie {cookie_name}={shorten(token)}"
            else:
                body = {**(body or {}), spec.field: token}
                presented = f"body {spec.field}={shorten(token)}"
        if spec.endpoint.client_auth != "none":
            body = body if body is not None else {}
            self._client_auth(spec.endpoint.client_auth, headers, body)
        return self.send(
            spec.endpoint.method,
            spec.endpoint.path,
            headers=headers,
            cookies=cookies,
            json_body=body if spec.endpoint.encoding == "json" else None,
            form=body if spec.endpoint.encoding == "form" else None,
            use_jar=False,
            presented=presented,
        )

    def _client_auth(self, mode: str, headers: dict[str, str], body: dict[str, str]) -> None:
        if mode == "none":
            return
        client_id, client_secret = self.ctx.client_credentials()
        if mode == "basic":
            headers["Authorization"] = basic_authorization(client_id, client_secret)
        else:
            body["client_id"] = client_id
            body["client_secret"] = client_secret

    def post_endpoint(
        self,
        endpoint: Any,
        body: dict[str, str],
        *,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        omit: Iterable[str] = (),
        use_jar: bool = True,
        presented: str,
    ) -> Exchange:
        """Send ``body`` to a profile endpoint with its encoding and client authentication (cookies as in send())."""
        headers = dict(headers or {})
        self._client_auth(endpoint.client_auth, headers, body)
        if endpoint.client_auth != "none":
            # Which client authentication went along, never the secret: evidence for debugging it.
            client = f"client {endpoint.client_auth}"
            presented = f"{presented}, {client}" if presented else client
        return self.send(
            endpoint.method,
            endpoint.path,
            headers=headers,
            json_body=body if endpoint.encoding == "json" else None,
            form=body if endpoint.encoding == "form" else None,
            cookies=cookies,
            omit_cookies=omit,
            use_jar=use_jar,
            presented=presented,
        )


def _jarless_session() -> requests.Session:
    """A requests session that never stores a cookie: the Device's own jar is the only one.

    requests keeps every non-Secure cookie it receives over http and sends it back on its own,
    so a "no token" request would carry the token cookies of a target that omits Secure.
    """
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    return session


def _credential_label(value: str) -> str:
    """An Authorization value as evidence: a short one (an empty or odd credential) verbatim,
    quoted so trailing spaces show; a long one as its scheme and the token's fingerprint."""
    if len(value) <= 16:
        return repr(value)
    scheme, _, credential = value.partition(" ")
    return f"{scheme} {shorten(credential)}"
