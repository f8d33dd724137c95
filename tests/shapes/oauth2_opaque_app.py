"""Emulate an OAuth 2.0 server that issues opaque tokens (random strings, looked up server side).

Many authorization servers and session stores do this (RFC 6749 §1.4: an access token "is
usually opaque to the client"). Nothing in a token can be decoded: its lifetime comes only from
``expires_in`` (RFC 6749 §5.1), and the resource server asks the token store on every request, so
revoking a refresh token (RFC 7009 §2.1) also ends the access tokens of its grant at once.
The endpoints, client authentication and errors are those of ``oauth2_app``.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from .oauth2_app import AuthorizationServer, Grant, OAuthError


@dataclass
class _Issued:
    grant: Grant
    expires_at: float


class OpaqueAuthorizationServer(AuthorizationServer):
    """The same grant rules, with random-string tokens kept in memory."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._access: dict[str, _Issued] = {}
        self._refresh: dict[str, _Issued] = {}

    def _issue(self, grant: Grant) -> dict[str, Any]:
        now = time.time()
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._access[access] = _Issued(grant, now + self.access_ttl)
        self._refresh[refresh] = _Issued(grant, now + self.refresh_ttl)
        grant.current = refresh
        grant.issued.add(refresh)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "refresh_token": refresh,
            "scope": grant.scope,
        }

    def refresh_grant(self, client_id: str, form: dict[str, str]) -> dict[str, Any]:
        token = form.get("refresh_token")
        if not token:
            raise OAuthError("invalid_request", "Missing refresh_token")
        with self._lock:
            issued = self._refresh.get(token)
            if issued is None or issued.grant.revoked or time.time() >= issued.expires_at:
                raise OAuthError("invalid_grant", "The refresh token is invalid or expired")
            grant = issued.grant
            if grant.client_id != client_id:
                raise OAuthError("invalid_grant", "The refresh token was issued to another client")
            if grant.current != token:
                # RFC 9700 §4.14.2: a used refresh token came back; end the whole grant.
                grant.revoked = True
                raise OAuthError("invalid_grant", "The refresh token is invalid or expired")
            grant.scope = self._scope(form.get("scope"), frozenset(grant.scope.split()))
            return self._issue(grant)

    def revoke(self, client_id: str, form: dict[str, str]) -> None:
        """RFC 7009: revoking a refresh token ends its grant, access tokens included (§2.1 SHOULD)."""
        token = form.get("token")
        if token is None:
            raise OAuthError("invalid_request", "Missing token")
        with self._lock:
            issued = self._refresh.get(token) or self._access.get(token)
            # §2.2: an unknown, expired or already revoked token is answered 200 all the same.
            if issued is not None and issued.grant.client_id == client_id:
                issued.grant.revoked = True

    def verify_access_token(self, token: str) -> dict[str, Any]:
        issued = self._access.get(token)
        if issued is None or issued.grant.revoked or time.time() >= issued.expires_at:
            raise jwt.InvalidTokenError("unknown, expired or revoked access token")
        return {"sub": issued.grant.username}
