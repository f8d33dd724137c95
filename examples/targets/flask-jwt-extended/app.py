"""A Flask API on flask-jwt-extended with JWTs in cookies, CSRF double submit and a database blocklist.

Written from the flask-jwt-extended documentation, as a user of the library would:

- "JWT Locations / Cookies": JWT_TOKEN_LOCATION = ["cookies"], set_access_cookies /
  set_refresh_cookies at login, the double-submit CSRF protection (JWT_COOKIE_CSRF_PROTECT, the
  X-CSRF-TOKEN header echoing the csrf_* cookies), unset_jwt_cookies at logout; and
  JWT_COOKIE_SECURE = True, because the options page says "This should always be True in
  production";
- "Refreshing Tokens / Explicit Refreshing With Refresh Tokens": /refresh behind
  ``jwt_required(refresh=True)`` creates a new access token. The docs do not rotate refresh
  tokens (they recommend implicit refreshing for websites and long-lived refresh tokens
  otherwise), so neither does this app;
- "JWT Revoking / Blocklist": ``token_in_blocklist_loader`` over a SQLAlchemy table (the
  "Database" example) and, from "Revoking Refresh Tokens", the option that needs no frontend
  work: the access token carries its refresh token's jti, and /logout revokes both.

Everything else is the library's default. Only the lifetimes are short (access 5 s, refresh
20 s, overridable through ACCESS_TTL / REFRESH_TTL) so that a conformance run can watch them expire.

Run:  python app.py [--port 8000]      (port 0, the default, picks a free one; the URL is printed)
Users: TOKENCONFORM_USERNAME / TOKENCONFORM_PASSWORD (and _2) from the environment, or generated
and printed. JWT_SECRET_KEY signs the tokens (random when unset). The blocklist's SQLite database
lives in a temporary directory that is removed at exit (SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    get_jwt,
    get_jwt_identity,
    jwt_required,
    set_access_cookies,
    set_refresh_cookies,
    unset_jwt_cookies,
)
from flask_sqlalchemy import SQLAlchemy
from werkzeug.security import check_password_hash, generate_password_hash

DATA_DIR = Path(tempfile.mkdtemp(prefix="tokenconform-flask-jwt-extended-"))

app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = os.environ.get("JWT_SECRET_KEY") or secrets.token_urlsafe(48)
app.config["JWT_TOKEN_LOCATION"] = ["cookies"]
app.config["JWT_COOKIE_SECURE"] = True
app.config["JWT_COOKIE_CSRF_PROTECT"] = True
app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(seconds=float(os.environ.get("ACCESS_TTL", "5")))
app.config["JWT_REFRESH_TOKEN_EXPIRES"] = timedelta(seconds=float(os.environ.get("REFRESH_TTL", "20")))
app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{DATA_DIR / 'blocklist.sqlite3'}"

jwt = JWTManager(app)
db = SQLAlchemy(app)

#: username -> password hash; the accounts are created at start-up (create_users).
USERS: dict[str, str] = {}


class TokenBlocklist(db.Model):  # type: ignore[name-defined]
    id = db.Column(db.Integer, primary_key=True)
    jti = db.Column(db.String(36), nullable=False, index=True)
    type = db.Column(db.String(16), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False)


@jwt.token_in_blocklist_loader
def check_if_token_revoked(jwt_header: dict[str, Any], jwt_payload: dict[str, Any]) -> bool:
    jti = jwt_payload["jti"]
    return db.session.query(TokenBlocklist.id).filter_by(jti=jti).scalar() is not None


@app.route("/login", methods=["POST"])
def login():  # type: ignore[no-untyped-def]
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(msg="Expected a JSON object"), 400
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return jsonify(msg="Bad username or password"), 401
    stored = USERS.get(username)
    if stored is None or not check_password_hash(stored, password):
        return jsonify(msg="Bad username or password"), 401
    refresh_token = create_refresh_token(identity=username)
    # "Revoking Refresh Tokens", option 2: embed the refresh token's jti in the access token.
    access_token = create_access_token(
        identity=username, additional_claims={"refresh_jti": decode_token(refresh_token)["jti"]}
    )
    response = jsonify(msg="login successful")
    set_access_cookies(response, access_token)
    set_refresh_cookies(response, refresh_token)
    return response


@app.route("/refresh", methods=["POST"])
@jwt_required(refresh=True)
def refresh():  # type: ignore[no-untyped-def]
    access_token = create_access_token(identity=get_jwt_identity(), additional_claims={"refresh_jti": get_jwt()["jti"]})
    response = jsonify(refresh=True)
    set_access_cookies(response, access_token)
    return response


@app.route("/logout", methods=["POST"])
@jwt_required()
def logout():  # type: ignore[no-untyped-def]
    token = get_jwt()
    now = datetime.now(timezone.utc)
    db.session.add(TokenBlocklist(jti=token["jti"], type="access", created_at=now))
    db.session.add(TokenBlocklist(jti=token["refresh_jti"], type="refresh", created_at=now))
    db.session.commit()
    response = jsonify(msg="logout successful")
    unset_jwt_cookies(response)
    return response


@app.route("/protected", methods=["GET"])
@jwt_required()
def protected():  # type: ignore[no-untyped-def]
    return jsonify(logged_in_as=get_jwt_identity())


def create_users() -> None:
    """Two accounts: from TOKENCONFORM_USERNAME/PASSWORD (and _2), or generated and printed."""
    for suffix in ("", "_2"):
        name = os.environ.get(f"TOKENCONFORM_USERNAME{suffix}")
        password = os.environ.get(f"TOKENCONFORM_PASSWORD{suffix}")
        if not name or not password:
            name, password = f"user{suffix or '_1'}", secrets.token_urlsafe(12)
            print(f"export TOKENCONFORM_USERNAME{suffix}={name} TOKENCONFORM_PASSWORD{suffix}={password}")
        USERS[name] = generate_password_hash(password)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    args = parser.parse_args()

    from waitress.server import create_server

    try:
        with app.app_context():
            db.create_all()
        create_users()
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
