"""Keeps spec/openapi.yaml and the reference server from drifting apart.

Three layers, cheapest first:
(a) the document is valid OpenAPI 3.1 (openapi-spec-validator);
(b) the server's routes are exactly the spec's paths and methods, in both directions;
(c) schemathesis fuzzes a real ReferenceServer from the spec: no 5xx, only documented status
    codes, response bodies, content types and required headers as documented. Explicit
    happy-path cases add the 2xx answers that random input seldom reaches (a valid login, a
    valid refresh token).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from hypothesis import settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tokenconform_server.app import create_app
from tokenconform_server.config import Settings
from tokenconform_server.server import ReferenceServer

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
PASSWORD = "correct horse battery"
TIMEOUT = 10
#: examples per operation in the fuzzing phase; with the examples and coverage phases the module
#: takes about 3-5 s on 2 cores (it stays under a minute up to a few hundred)
MAX_EXAMPLES = 30

#: what every response must satisfy; the brief of issue 2 ("no 5xx, and every response matches
#: its schema") plus headers, so Set-Cookie / WWW-Authenticate / Cache-Control drift is caught.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

# Bounded so the whole module stays well under a minute on 2 cores: the examples and coverage
# phases are deterministic and small for these schemas; fuzzing is capped by max_examples.
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "phases": {"stateful": {"enabled": False}},
    }
)
# The `mock` tag's /_mock/ paths are served only in mock mode (reference_server/mock.py):
# test_mock_app_serves_the_mock_paths_too matches them against MockApp, tests/mock/ exercises them.
schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG).exclude(tag="mock")


def load_document() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as fh:
        document: dict[str, Any] = yaml.safe_load(fh)
    return document


# ------------------------------------------------------------------ (a) the document


def test_document_is_valid_openapi_3_1() -> None:
    document = load_document()
    assert document["openapi"] == "3.1.0"
    errors = [str(error.message) for error in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


# ------------------------------------------------------------------ (b) routes vs paths


def spec_operations(document: dict[str, Any], *, mock: bool = False) -> set[tuple[str, str]]:
    """(METHOD, path) of the documented operations; the `mock`-tagged ones only with ``mock``."""
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS and (mock or "mock" not in operation.get("tags", ()))
    }


def bottle_rule_to_openapi(rule: str) -> str:
    """``/users/<user_id:int>`` → ``/users/{user_id}`` (Bottle wildcards as OpenAPI templates)."""
    return re.sub(r"<([^>:]+)(?::[^>]*)?>", r"{\1}", rule)


def test_server_routes_match_spec_paths(tmp_path: Path) -> None:
    app = create_app(Settings.for_testing(db_path=str(tmp_path / "routes.db")))
    try:
        served = {(route.method.upper(), bottle_rule_to_openapi(route.rule)) for route in app.routes}
    finally:
        app.close()  # closes the store's SQLite connection (a ResourceWarning on 3.13 otherwise)
    documented = spec_operations(load_document())
    # Both directions, named apart so a failure says which side is missing what.
    assert sorted(served - documented) == [], "served but not in spec/openapi.yaml"
    assert sorted(documented - served) == [], "in spec/openapi.yaml but not served"


def test_mock_app_serves_the_mock_paths_too() -> None:
    from tokenconform_server.mock import MockApp

    mock = MockApp(Settings.for_testing())
    try:
        served = {(method, bottle_rule_to_openapi(rule)) for method, rule in mock.routes}
    finally:
        mock.close()
    documented = spec_operations(load_document(), mock=True)
    assert sorted(served - documented) == [], "served in mock mode but not in spec/openapi.yaml"
    assert sorted(documented - served) == [], "in spec/openapi.yaml but not served in mock mode"


# ------------------------------------------------------------------ (c) the running server


class LiveApi:
    """A running reference server plus the credentials the fuzzed operations need."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()
        # /profile reuses one session; /logout and /logout-all revoke what they are given, so
        # they get a fresh login per case (cheap: Settings.for_testing uses bcrypt cost 4).
        self.reader = self.register()
        self.reader_token = self.login(self.reader)["accessToken"]
        self.logout_user = self.register()
        self.logout_all_user = self.register()

    def register(self) -> dict[str, str]:
        tag = uuid.uuid4().hex[:12]
        body = {
            "username": f"spec-{tag}",
            "email": f"spec-{tag}@example.com",
            "password": PASSWORD,
            "fullName": "Spec Fuzzer",
        }
        response = self.http.post(f"{self.url}/register", json=body, timeout=TIMEOUT)
        assert response.status_code == 201, response.text
        return body

    def login(self, user: dict[str, str]) -> dict[str, Any]:
        credentials = {"email": user["email"], "password": user["password"]}
        response = self.http.post(f"{self.url}/login", json=credentials, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        if (method, path) == ("GET", "/profile"):
            token = self.reader_token
        elif (method, path) == ("POST", "/logout"):
            token = self.login(self.logout_user)["accessToken"]
        elif (method, path) == ("POST", "/logout-all"):
            token = self.login(self.logout_all_user)["accessToken"]
        else:
            return {}
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    # Module scope: Hypothesis refuses function-scoped fixtures in a @given test, and one server
    # for the whole module keeps the run short.
    db_path = tmp_path_factory.mktemp("spec") / "spec.db"
    with ReferenceServer(Settings.for_testing(db_path=str(db_path))) as server:
        api = LiveApi(server.url)
        yield api
        api.http.close()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None)
def test_server_conforms_to_spec(case: schemathesis.Case, live_api: LiveApi) -> None:
    headers = live_api.headers_for(case.method.upper(), case.path)
    case.call_and_validate(base_url=live_api.url, headers=headers, checks=CHECKS, timeout=TIMEOUT)


def validate(live_api: LiveApi, method: str, path: str, **case_data: Any) -> requests.Response:
    """Send one explicit case and run the same checks as the fuzzer on its response."""
    case = schema[path][method].Case(**case_data)
    response = case.call(base_url=live_api.url, timeout=TIMEOUT)
    case.validate_response(response, checks=CHECKS)
    return response


def test_happy_path_conforms_to_spec(live_api: LiveApi) -> None:
    # Random input almost never carries valid credentials, so the 2xx schemas of /login,
    # /refresh, /logout and /logout-all are pinned here with real ones.
    user = live_api.register()
    credentials = {"email": user["email"], "password": user["password"]}
    assert validate(live_api, "POST", "/login", body=credentials).status_code == 200
    login = live_api.login(user)
    bearer = {"Authorization": f"Bearer {login['accessToken']}"}
    assert validate(live_api, "GET", "/profile", headers=bearer).status_code == 200
    by_access_cookie = validate(live_api, "GET", "/profile", cookies={"accessToken": login["accessToken"]})
    assert by_access_cookie.status_code == 200

    refreshed = validate(live_api, "POST", "/refresh", body={"refreshToken": login["refreshToken"]})
    assert refreshed.status_code == 200
    # The used token again: reuse is a documented 401 with a challenge.
    reused = validate(live_api, "POST", "/refresh", body={"refreshToken": login["refreshToken"]})
    assert reused.status_code == 401

    fresh = live_api.login(user)
    by_cookie = validate(live_api, "POST", "/refresh", cookies={"refreshToken": fresh["refreshToken"]})
    assert by_cookie.status_code == 200

    session = live_api.login(user)
    logout = validate(
        live_api,
        "POST",
        "/logout",
        headers={"Authorization": f"Bearer {session['accessToken']}"},
    )
    assert logout.status_code == 200
    # An expired access token is not at hand, so log out with the refresh token alone.
    other = live_api.login(user)
    by_refresh = validate(live_api, "POST", "/logout", body={"refreshToken": other["refreshToken"]})
    assert by_refresh.status_code == 200

    last = live_api.login(user)
    logout_all = validate(
        live_api,
        "POST",
        "/logout-all",
        headers={"Authorization": f"Bearer {last['accessToken']}"},
    )
    assert logout_all.status_code == 200
    assert validate(live_api, "GET", "/profile", headers=bearer).status_code == 401


def test_register_conflict_and_invalid_conform_to_spec(live_api: LiveApi) -> None:
    user = live_api.register()
    assert validate(live_api, "POST", "/register", body=user).status_code == 409
    # 73 bytes in 37 characters: within the schema's maxLength, over bcrypt's 72-byte limit.
    tag = uuid.uuid4().hex[:8]
    too_long = {
        "username": f"long-{tag}",
        "email": f"long-{tag}@example.com",
        "password": "é" * 36 + "a",
        "fullName": "Too Long",
    }
    assert validate(live_api, "POST", "/register", body=too_long).status_code == 422


def test_unknown_route_and_wrong_method_match_error_components(live_api: LiveApi) -> None:
    # 404 and 405 apply to what the spec does NOT list, so schemathesis never sends them; check
    # their bodies against the shared components by hand.
    error_schema = load_document()["components"]["schemas"]["Error"]
    validator = Draft202012Validator(error_schema)
    missing = live_api.http.get(f"{live_api.url}/no-such-route", timeout=TIMEOUT)
    wrong_method = live_api.http.delete(f"{live_api.url}/profile", timeout=TIMEOUT)
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    for response in (missing, wrong_method):
        assert response.headers["Content-Type"].startswith("application/json")
        validator.validate(response.json())


def test_throttled_login_conforms_to_spec(tmp_path: Path) -> None:
    # The 429 needs a server with a low failure limit; the shared one is generous on purpose.
    settings = Settings.for_testing(db_path=str(tmp_path / "throttle.db"), login_max_failures=2)
    with ReferenceServer(settings) as server:
        api = LiveApi(server.url)
        try:
            wrong = {"email": api.reader["email"], "password": "not the password"}
            statuses = [validate(api, "POST", "/login", body=wrong).status_code for _ in range(3)]
        finally:
            api.http.close()
    assert statuses == [401, 401, 429]
