"""Profiles: TOML descriptions of a target's API, validated into frozen dataclasses.

A profile says how to talk to a target (paths, field names, where tokens travel) and which policy
it declares (TTL maxima, delivery, grace windows). It never lowers a requirement's level; a
declared deviation is reported as ``declared``. Every error names the key path and is raised
before any request is sent. The published format is spec/profile.schema.json.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

from .errors import ProfileError

BUILTIN_PROFILES = ("reference", "simplejwt", "flask-jwt-extended", "oauth2")


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str = "POST"
    #: how the request body is encoded: "json" or "form"
    encoding: str = "json"
    #: statuses that mean success
    success_status: tuple[int, ...] = (200,)
    #: client authentication for OAuth 2.0 endpoints: "none", "basic" (HTTP Basic) or "body"
    #: (client_id/client_secret fields); credentials come from TOKENCONFORM_CLIENT_ID/SECRET
    client_auth: str = "none"


@dataclass(frozen=True)
class LoginSpec:
    endpoint: Endpoint
    username_field: str = "email"
    password_field: str = "password"
    #: static fields sent with every login (e.g. grant_type for an OAuth password grant)
    extra: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class RegisterSpec:
    endpoint: Endpoint
    #: body fields; values are templates over {username}, {email}, {password}
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    #: which generated value the login uses as its username field: "email" or "username"
    login_identifier: str = "email"


@dataclass(frozen=True)
class TokenLocation:
    #: dotted path into the JSON body of login/refresh responses ("" = not in the body)
    json: str = ""
    #: cookie name ("" = not in a cookie)
    cookie: str = ""
    #: dotted path of the body field giving the token's lifetime in seconds (RFC 6749 §5.1
    #: ``expires_in``); how expiry is judged for opaque tokens. "" = "expires_in" when present.
    expires_in: str = ""


@dataclass(frozen=True)
class RefreshSpec:
    endpoint: Endpoint
    #: the ways a refresh token can be presented, in order of preference: "cookie", "body", "bearer"
    present: tuple[str, ...] = ("body",)
    #: body field carrying the refresh token
    field: str = "refreshToken"
    extra: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class ProtectedSpec:
    endpoint: Endpoint
    #: the ways an access token can be presented: "bearer", "cookie"
    present: tuple[str, ...] = ("bearer",)


@dataclass(frozen=True)
class LogoutSpec:
    endpoint: Endpoint
    #: which token identifies the session to end: "access" or "refresh"
    token: str = "access"
    #: how it is presented: "bearer", "cookie", "body"
    present: tuple[str, ...] = ("bearer",)
    #: body field when the token goes in the body
    field: str = "refreshToken"
    #: static fields sent with every logout (e.g. token_type_hint for RFC 7009 revocation)
    extra: dict[str, str] = dataclasses.field(default_factory=dict)
    #: "session": logging out an ended session is refused (4xx); "rfc7009": the endpoint answers
    #: 200 for an invalid or already revoked token (RFC 7009 §2.2), so only the effect is judged
    semantics: str = "session"


@dataclass(frozen=True)
class CsrfSpec:
    """Double-submit CSRF: copy a cookie's value into a header on state-changing requests."""

    header: str
    #: cookie whose value goes in the header for requests authenticated by the access cookie
    access_cookie: str = ""
    #: same, for the refresh endpoint
    refresh_cookie: str = ""


@dataclass(frozen=True)
class Policy:
    #: the longest lifetimes the team ACCEPTS (TOK-14, EXP-01 fail above them)
    max_access_ttl: int = 900
    max_refresh_ttl: int = 7 * 24 * 3600
    #: the lifetimes the deployment under test is CONFIGURED with, seconds; 0 = learn them from
    #: the tokens (exp, or expires_in). Needed for opaque refresh tokens, whose lifetime the
    #: responses rarely state.
    access_ttl: int = 0
    refresh_ttl: int = 0
    #: absolute session cap across rotations, seconds; 0 declares that there is none (a deviation
    #: from ASVS 5.0 V10.4.8); None (absent) = judged against the first refresh token's lifetime
    session_max_age: int | None = None
    #: "body", "cookie" or "both"
    delivery: str = "body"
    #: False declares that access tokens live to their exp after logout
    access_token_revoked_at_logout: bool = True
    #: statuses the refresh endpoint uses to reject a token (401, or 400 invalid_grant for OAuth)
    refresh_rejection_status: tuple[int, ...] = (401,)
    #: seconds during which a replayed predecessor may be answered (0 = strict rotation)
    concurrent_refresh_grace: int = 0
    #: False declares that the target does not detect refresh-token reuse
    reuse_detection: bool = True
    #: largest acceptable clock-skew leeway after exp, seconds
    max_leeway: int = 60
    #: refresh-token idle timeout in seconds, 0 = none declared
    idle_timeout: int = 0
    #: True declares that registration answers differently for an existing account
    registration_reveals_accounts: bool = False
    #: a route that a normal user may not use (PRO-04); "" = none
    privileged_path: str = ""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    login: LoginSpec
    tokens_access: TokenLocation
    tokens_refresh: TokenLocation
    refresh: RefreshSpec
    protected: ProtectedSpec
    policy: Policy
    register: RegisterSpec | None = None
    logout: LogoutSpec | None = None
    logout_all: LogoutSpec | None = None
    csrf: CsrfSpec | None = None
    #: "jwt", "opaque" (JWT-only checks skip; expiry comes from expires_in and the TTLs) or
    #: "auto" (decided from the first issued token)
    token_format: str = "auto"
    #: where the profile came from (file path or "builtin:NAME")
    source: str = ""

    @property
    def uses_cookies(self) -> bool:
        return bool(self.tokens_access.cookie or self.tokens_refresh.cookie)


# ---------------------------------------------------------------- parsing

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class _Reader:
    """Typed access to a TOML table that remembers its key path for error messages."""

    def __init__(self, table: Any, path: str, source: str) -> None:
        if not isinstance(table, dict):
            raise ProfileError(f"must be a table, got {type(table).__name__}", key_path=path, source=source)
        self.table = table
        self.path = path
        self.source = source
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> ProfileError:
        return ProfileError(message, key_path=self._key(key), source=self.source)

    def has(self, key: str) -> bool:
        return key in self.table

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.table:
            if required:
                raise self.error(key, "is required")
            return None
        return self.table[key]

    def text(self, key: str, default: str | None = None, *, choices: tuple[str, ...] = ()) -> str:
        value = self._get(key, default is None)
        if value is None:
            assert default is not None
            return default
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {type(value).__name__} {value!r}")
        if choices and value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value

    def integer(self, key: str, default: int, *, minimum: int = 0) -> int:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {type(value).__name__} {value!r}")
        if value < minimum:
            raise self.error(key, f"must be >= {minimum}, got {value}")
        return value

    def optional_integer(self, key: str) -> int | None:
        value = self.integer(key, -1)
        return None if value < 0 else value

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def texts(self, key: str, default: tuple[str, ...], *, choices: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, list) or not value:
            raise self.error(key, f"must be a non-empty list of strings, got {value!r}")
        for index, item in enumerate(value):
            if item not in choices:
                raise ProfileError(
                    f"must be one of {', '.join(choices)}; got {item!r}",
                    key_path=f"{self._key(key)}[{index}]",
                    source=self.source,
                )
        if len(set(value)) != len(value):
            raise self.error(key, "lists a value twice")
        return tuple(value)

    def statuses(self, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.error(key, f"must be a status code or a non-empty list of them, got {value!r}")
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int) or not 100 <= item <= 599:
                raise ProfileError(
                    f"must be an HTTP status code, got {item!r}",
                    key_path=f"{self._key(key)}[{index}]",
                    source=self.source,
                )
        return tuple(value)

    def mapping(self, key: str) -> dict[str, str]:
        value = self._get(key, False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table of strings, got {value!r}")
        for name, item in value.items():
            if not isinstance(item, str):
                raise ProfileError(
                    f"must be a string, got {type(item).__name__} {item!r}",
                    key_path=f"{self._key(key)}.{name}",
                    source=self.source,
                )
        return dict(value)

    def sub(self, key: str, *, required: bool = False) -> _Reader | None:
        value = self._get(key, required)
        if value is None:
            return None
        return _Reader(value, self._key(key), self.source)

    def finish(self) -> None:
        """Unknown keys are errors: a typo must not silently fall back to a default."""
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise self.error(unknown[0], "is not a known key" + _suggest(unknown[0], self.used))


def _suggest(key: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _endpoint(reader: _Reader, *, method: str, success: tuple[int, ...], encoding: bool = True) -> Endpoint:
    path = reader.text("path")
    if not path.startswith("/"):
        raise reader.error("path", f"must start with '/', got {path!r}")
    return Endpoint(
        path=path,
        method=reader.text("method", method, choices=_METHODS),
        encoding=reader.text("encoding", "json", choices=("json", "form")) if encoding else "json",
        success_status=reader.statuses("success_status", success),
        client_auth=reader.text("client_auth", "none", choices=("none", "basic", "body")) if encoding else "none",
    )


def _token_location(reader: _Reader | None, key_path: str, source: str) -> TokenLocation:
    if reader is None:
        raise ProfileError("is required (say where the token comes back)", key_path=key_path, source=source)
    location = TokenLocation(
        json=reader.text("json", ""), cookie=reader.text("cookie", ""), expires_in=reader.text("expires_in", "")
    )
    reader.finish()
    if not location.json and not location.cookie:
        raise ProfileError(
            "needs `json` (a body field path) or `cookie` (a cookie name)", key_path=key_path, source=source
        )
    return location


def _logout(reader: _Reader | None) -> LogoutSpec | None:
    if reader is None:
        return None
    spec = LogoutSpec(
        endpoint=_endpoint(reader, method="POST", success=(200, 204, 205)),
        token=reader.text("token", "access", choices=("access", "refresh")),
        present=reader.texts("present", ("bearer",), choices=("bearer", "cookie", "body")),
        field=reader.text("field", "refreshToken"),
        extra=reader.mapping("extra"),
        semantics=reader.text("semantics", "session", choices=("session", "rfc7009")),
    )
    reader.finish()
    return spec


def parse_profile(document: dict[str, Any], *, source: str = "profile") -> Profile:
    """Validate a parsed TOML document into a Profile, or raise ProfileError naming the key."""
    root = _Reader(document, "", source)
    name = root.text("name")
    description = root.text("description", "")

    login_reader = root.sub("login", required=True)
    assert login_reader is not None
    login = LoginSpec(
        endpoint=_endpoint(login_reader, method="POST", success=(200,)),
        username_field=login_reader.text("username_field", "email"),
        password_field=login_reader.text("password_field", "password"),
        extra=login_reader.mapping("extra"),
    )
    login_reader.finish()

    register = None
    register_reader = root.sub("register")
    if register_reader is not None:
        register = RegisterSpec(
            endpoint=_endpoint(register_reader, method="POST", success=(200, 201)),
            fields=register_reader.mapping("fields"),
            login_identifier=register_reader.text("login_identifier", "email", choices=("email", "username")),
        )
        register_reader.finish()
        if not register.fields:
            raise register_reader.error("fields", "must name at least the fields the endpoint needs")
        if "{password}" not in "".join(register.fields.values()):
            raise register_reader.error("fields", "no field uses {password}")

    tokens_reader = root.sub("tokens", required=True)
    assert tokens_reader is not None
    token_format = tokens_reader.text("format", "auto", choices=("auto", "jwt", "opaque"))
    tokens_access = _token_location(tokens_reader.sub("access"), "tokens.access", source)
    tokens_refresh = _token_location(tokens_reader.sub("refresh"), "tokens.refresh", source)
    tokens_reader.finish()

    refresh_reader = root.sub("refresh", required=True)
    assert refresh_reader is not None
    refresh = RefreshSpec(
        endpoint=_endpoint(refresh_reader, method="POST", success=(200,)),
        present=refresh_reader.texts("present", ("body",), choices=("cookie", "body", "bearer")),
        field=refresh_reader.text("field", "refreshToken"),
        extra=refresh_reader.mapping("extra"),
    )
    refresh_reader.finish()
    if "cookie" in refresh.present and not tokens_refresh.cookie:
        raise ProfileError(
            "lists 'cookie' but tokens.refresh.cookie names no cookie", key_path="refresh.present", source=source
        )

    protected_reader = root.sub("protected", required=True)
    assert protected_reader is not None
    protected = ProtectedSpec(
        endpoint=_endpoint(protected_reader, method="GET", success=(200,), encoding=False),
        present=protected_reader.texts("present", ("bearer",), choices=("bearer", "cookie")),
    )
    protected_reader.finish()
    if "cookie" in protected.present and not tokens_access.cookie:
        raise ProfileError(
            "lists 'cookie' but tokens.access.cookie names no cookie", key_path="protected.present", source=source
        )

    logout = _logout(root.sub("logout"))
    logout_all = _logout(root.sub("logout_all"))

    csrf = None
    csrf_reader = root.sub("csrf")
    if csrf_reader is not None:
        csrf = CsrfSpec(
            header=csrf_reader.text("header"),
            access_cookie=csrf_reader.text("access_cookie", ""),
            refresh_cookie=csrf_reader.text("refresh_cookie", ""),
        )
        csrf_reader.finish()

    policy_reader = root.sub("policy")
    policy = Policy()
    if policy_reader is not None:
        policy = Policy(
            max_access_ttl=policy_reader.integer("max_access_ttl", 900, minimum=1),
            max_refresh_ttl=policy_reader.integer("max_refresh_ttl", 7 * 24 * 3600, minimum=1),
            access_ttl=policy_reader.integer("access_ttl", 0),
            refresh_ttl=policy_reader.integer("refresh_ttl", 0),
            session_max_age=policy_reader.optional_integer("session_max_age"),
            delivery=policy_reader.text("delivery", "body", choices=("body", "cookie", "both")),
            access_token_revoked_at_logout=policy_reader.flag("access_token_revoked_at_logout", True),
            refresh_rejection_status=policy_reader.statuses("refresh_rejection_status", (401,)),
            concurrent_refresh_grace=policy_reader.integer("concurrent_refresh_grace", 0),
            reuse_detection=policy_reader.flag("reuse_detection", True),
            max_leeway=policy_reader.integer("max_leeway", 60),
            idle_timeout=policy_reader.integer("idle_timeout", 0),
            registration_reveals_accounts=policy_reader.flag("registration_reveals_accounts", False),
            privileged_path=policy_reader.text("privileged_path", ""),
        )
        policy_reader.finish()
        # "both" means the session travels both ways, not that every token does: a login may set
        # cookies only while refresh also returns the access token in JSON.
        cookies = [bool(tokens_access.cookie), bool(tokens_refresh.cookie)]
        fields = [bool(tokens_access.json), bool(tokens_refresh.json)]
        if policy.delivery == "cookie" and not all(cookies):
            raise policy_reader.error("delivery", "is 'cookie' but tokens.*.cookie does not name both cookies")
        if policy.delivery == "body" and not all(fields):
            raise policy_reader.error("delivery", "is 'body' but tokens.*.json does not name both fields")
        if policy.delivery == "both" and not (any(cookies) and any(fields)):
            raise policy_reader.error("delivery", "is 'both' but tokens.* names no cookie, or no body field")
    root.finish()

    return Profile(
        name=name,
        description=description,
        login=login,
        tokens_access=tokens_access,
        tokens_refresh=tokens_refresh,
        refresh=refresh,
        protected=protected,
        policy=policy,
        register=register,
        logout=logout,
        logout_all=logout_all,
        csrf=csrf,
        token_format=token_format,
        source=source,
    )


def builtin_profile_text(name: str) -> str:
    return importlib.resources.files("tokenconform").joinpath(f"profiles/{name}.toml").read_text(encoding="utf-8")


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name, or a TOML file by path."""
    if name_or_path in BUILTIN_PROFILES:
        source = f"builtin:{name_or_path}"
        text = builtin_profile_text(name_or_path)
    else:
        path = Path(name_or_path)
        source = str(path)
        if not path.is_file():
            known = ", ".join(BUILTIN_PROFILES)
            raise ProfileError(f"no such file, and not a built-in profile ({known})", source=source)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ProfileError(f"cannot read: {exc}", source=source) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"invalid TOML: {exc}", source=source) from None
    return parse_profile(document, source=source)
