"""A Django REST framework API on djangorestframework-simplejwt, configured as its docs recommend for rotation.

One file holds the settings, the URLs and the one protected view, the way a small Django project
would be laid out if it fitted in a module. It follows the simplejwt documentation:

- "Getting started": JWTAuthentication as the default authentication class, TokenObtainPairView
  at ``api/token/`` and TokenRefreshView at ``api/token/refresh/``;
- "Settings": ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION on;
- "Blacklist app": ``rest_framework_simplejwt.token_blacklist`` in INSTALLED_APPS, migrated, and
  TokenBlacklistView at ``api/token/blacklist/`` as the logout.

Everything else is the library's default. Only the lifetimes are short (access 5 s, refresh 20 s,
overridable through ACCESS_TTL / REFRESH_TTL) so that a conformance run can watch tokens expire.

Run:  python app.py [--port 8000]      (port 0, the default, picks a free one; the URL is printed)
Users: TOKENCONFORM_USERNAME / TOKENCONFORM_PASSWORD (and _2) from the environment, or generated
and printed. DJANGO_SECRET_KEY signs the tokens (random when unset). The SQLite database lives in
a temporary directory that is removed at exit (SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import django
from django.conf import settings
from django.urls import path

DATA_DIR = Path(tempfile.mkdtemp(prefix="tokenconform-simplejwt-"))

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "rest_framework",
        "rest_framework_simplejwt.token_blacklist",
    ],
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(DATA_DIR / "db.sqlite3")}},
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    USE_TZ=True,
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": ("rest_framework_simplejwt.authentication.JWTAuthentication",),
    },
    SIMPLE_JWT={
        "ACCESS_TOKEN_LIFETIME": timedelta(seconds=float(os.environ.get("ACCESS_TTL", "5"))),
        "REFRESH_TOKEN_LIFETIME": timedelta(seconds=float(os.environ.get("REFRESH_TTL", "20"))),
        "ROTATE_REFRESH_TOKENS": True,
        "BLACKLIST_AFTER_ROTATION": True,
    },
)
django.setup()

from rest_framework.permissions import IsAuthenticated  # noqa: E402  (needs configured settings)
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402
from rest_framework_simplejwt.views import (  # noqa: E402
    TokenBlacklistView,
    TokenObtainPairView,
    TokenRefreshView,
)


class MeView(APIView):
    """The protected resource: who the access token belongs to."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"id": request.user.pk, "username": request.user.get_username()})


urlpatterns = [
    path("api/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("api/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("api/token/blacklist/", TokenBlacklistView.as_view(), name="token_blacklist"),
    path("api/me/", MeView.as_view(), name="me"),
]


def create_users() -> None:
    """Two accounts: from TOKENCONFORM_USERNAME/PASSWORD (and _2), or generated and printed."""
    from django.contrib.auth import get_user_model

    for suffix in ("", "_2"):
        name = os.environ.get(f"TOKENCONFORM_USERNAME{suffix}")
        password = os.environ.get(f"TOKENCONFORM_PASSWORD{suffix}")
        if not name or not password:
            name, password = f"user{suffix or '_1'}", secrets.token_urlsafe(12)
            print(f"export TOKENCONFORM_USERNAME{suffix}={name} TOKENCONFORM_PASSWORD{suffix}={password}")
        get_user_model().objects.create_user(username=name, password=password)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    args = parser.parse_args()

    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    try:
        call_command("migrate", verbosity=0, interactive=False)
        create_users()
        server = create_server(get_wsgi_application(), host=args.host, port=args.port)
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
        from django.db import connections

        connections.close_all()
        shutil.rmtree(DATA_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
