"""An OAuth 2.0 server on Authlib's Flask integration: password and refresh_token grants, RFC 7009 revocation.

Written from the Authlib documentation ("Flask OAuth 2.0 Server"), as a user of the library would:

- "Authorization Server": SQLAlchemy models with OAuth2ClientMixin / OAuth2TokenMixin, and
  AuthorizationServer built with create_query_client_func / create_save_token_func;
- "Grant Types": a ResourceOwnerPasswordCredentialsGrant subclass, and a RefreshTokenGrant
  subclass with the documented authenticate_refresh_token ("you should check if refresh token is
  expired and revoked"), authenticate_user and revoke_old_credential, plus
  ``INCLUDE_NEW_REFRESH_TOKEN = True``, the documented switch that makes it issue a new refresh
  token (rotation);
- "Token Endpoints / RFC 7009": the revocation endpoint from create_revocation_endpoint at
  /oauth/revoke;
- "RFC 9068": access tokens are JWTs from JWTBearerTokenGenerator (RS256, typ at+jwt), and the
  protected resource /userinfo checks them with JWTBearerTokenValidator. Refresh tokens are
  Authlib's default random strings.

Client authentication is the grants' default (client_secret_basic). Everything else is the
library's default; only the lifetimes are short (access 5 s, refresh 20 s, overridable through
ACCESS_TTL / REFRESH_TTL) so that a conformance run can watch them expire.

Run:  python app.py [--port 8000]      (port 0, the default, picks a free one; the URL is printed)
Users and client: TOKENCONFORM_USERNAME / TOKENCONFORM_PASSWORD (and _2) and
TOKENCONFORM_CLIENT_ID / TOKENCONFORM_CLIENT_SECRET from the environment, or generated and
printed. The SQLite database lives in a temporary directory that is removed at exit (SIGTERM or
Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector, current_token
from authlib.integrations.sqla_oauth2 import (
    OAuth2ClientMixin,
    OAuth2TokenMixin,
    create_query_client_func,
    create_revocation_endpoint,
    create_save_token_func,
)
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator, JWTBearerTokenValidator
from flask import Flask, jsonify
from flask_sqlalchemy import SQLAlchemy
from joserfc.jwk import KeySet, RSAKey
from werkzeug.security import check_password_hash, generate_password_hash

DATA_DIR = Path(tempfile.mkdtemp(prefix="tokenconform-authlib-"))
ACCESS_TTL = int(os.environ.get("ACCESS_TTL", "5"))
REFRESH_TTL = int(os.environ.get("REFRESH_TTL", "20"))
#: RFC 9068 `iss` of the access tokens, and the `aud` the resource server (/userinfo) requires.
ISSUER = "https://authlib-example.tokenconform.test"
RESOURCE_SERVER = "https://authlib-example.tokenconform.test/userinfo"

app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{DATA_DIR / 'oauth.sqlite3'}"
db = SQLAlchemy(app)

#: The authorization server's signing key, published to the resource server as a JWK set.
JWKS = KeySet([RSAKey.generate_key(2048, private=True)])


class User(db.Model):  # type: ignore[name-defined]
    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(80), unique=True, nullable=False)
    password_hash = db.Column(db.String(255), nullable=False)

    def get_user_id(self) -> int:
        return self.id

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class Client(db.Model, OAuth2ClientMixin):  # type: ignore[name-defined, misc]
    id = db.Column(db.Integer, primary_key=True)


class Token(db.Model, OAuth2TokenMixin):  # type: ignore[name-defined, misc]
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id", ondelete="CASCADE"))
    user = db.relationship("User")

    def is_refresh_token_valid(self) -> bool:
        return not self.refresh_token_revoked_at and self.issued_at + REFRESH_TTL > time.time()


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):
    def authenticate_user(self, username: str, password: str) -> User | None:
        user = User.query.filter_by(username=username).first()
        if user is not None and user.check_password(password):
            return user
        return None


class RefreshTokenGrant(grants.RefreshTokenGrant):
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        item = Token.query.filter_by(refresh_token=refresh_token).first()
        if item and item.is_refresh_token_valid():
            return item
        return None

    def authenticate_user(self, credential: Token) -> User | None:
        return db.session.get(User, credential.user_id)

    def revoke_old_credential(self, credential: Token) -> None:
        credential.refresh_token_revoked_at = int(time.time())
        db.session.add(credential)
        db.session.commit()


class AccessTokenGenerator(JWTBearerTokenGenerator):
    def get_jwks(self) -> KeySet:
        return JWKS

    def get_audiences(self, client: Client, user: User, scope: str) -> str:
        return RESOURCE_SERVER


class AccessTokenValidator(JWTBearerTokenValidator):
    def get_jwks(self) -> dict[str, Any]:
        return JWKS.as_dict(private=False)


authorization = AuthorizationServer(
    app,
    query_client=create_query_client_func(db.session, Client),
    save_token=create_save_token_func(db.session, Token),
)
authorization.register_grant(PasswordGrant)
authorization.register_grant(RefreshTokenGrant)
authorization.register_token_generator(
    "default",
    AccessTokenGenerator(
        issuer=ISSUER,
        refresh_token_generator=lambda **_: generate_token(48),
        expires_generator=lambda client, grant_type: ACCESS_TTL,
    ),
)
RevocationEndpoint = create_revocation_endpoint(db.session, Token)
authorization.register_endpoint(RevocationEndpoint)

require_oauth = ResourceProtector()
require_oauth.register_token_validator(AccessTokenValidator(issuer=ISSUER, resource_server=RESOURCE_SERVER))


@app.route("/oauth/token", methods=["POST"])
def issue_token():  # type: ignore[no-untyped-def]
    return authorization.create_token_response()


@app.route("/oauth/revoke", methods=["POST"])
def revoke_token():  # type: ignore[no-untyped-def]
    return authorization.create_endpoint_response(RevocationEndpoint.ENDPOINT_NAME)


@app.route("/userinfo")
@require_oauth("profile")
def userinfo():  # type: ignore[no-untyped-def]
    user = db.session.get(User, int(current_token["sub"]))
    return jsonify(sub=current_token["sub"], preferred_username=user.username if user else None)


def _credential(name: str, default: str) -> str:
    value = os.environ.get(name)
    if not value:
        value = default
        print(f"export {name}={value}")
    return value


def create_accounts() -> None:
    """The client and two users: from the TOKENCONFORM_* variables, or generated and printed."""
    client = Client(
        client_id=_credential("TOKENCONFORM_CLIENT_ID", "tokenconform-client"),
        client_secret=_credential("TOKENCONFORM_CLIENT_SECRET", secrets.token_urlsafe(24)),
        client_id_issued_at=int(time.time()),
    )
    client.set_client_metadata(
        {
            "client_name": "tokenconform",
            "grant_types": ["password", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile",
        }
    )
    db.session.add(client)
    for suffix in ("", "_2"):
        name = _credential(f"TOKENCONFORM_USERNAME{suffix}", f"user{suffix or '_1'}")
        password = _credential(f"TOKENCONFORM_PASSWORD{suffix}", secrets.token_urlsafe(12))
        db.session.add(User(username=name, password_hash=generate_password_hash(password)))
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    args = parser.parse_args()

    from waitress.server import create_server

    try:
        with app.app_context():
            db.create_all()
            create_accounts()
        server = create_server(app, host=args.host, port=args.port)
        # SIGTERM ends the loop the way Ctrl-C does, so the finally below always runs.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        print(f"listening on http://{args.host}:{server.effective_port}", flush=True)
        try:
            server.run()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            server.close()
            server.task_dispatcher.shutdown()
    finally:
        with app.app_context():
            db.engine.dispose()
        shutil.rmtree(DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
