#!/usr/bin/env python3
"""The same app as seed-fetch.js, on tokenconform's TokenSession (conformance/session_client.py).

Several calls in flight at once, refresh on 401 handled by the helper: one refresh for all of
them (single-flight), rotated tokens swapped atomically, a refused refresh ends the session.
``tokenconform client-check -- python examples/clients/python-helper.py`` passes every client
requirement.

client-check workload contract (environment): TOKENCONFORM_URL, TOKENCONFORM_USERNAME,
TOKENCONFORM_PASSWORD, TOKENCONFORM_PROFILE, TOKENCONFORM_ROUNDS rounds of
TOKENCONFORM_CONCURRENCY calls in flight at once to the profile's protected endpoint.
Exit 0 done, 3 the session ended (login required).
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tokenconform.session_client import RefreshUnavailable, SessionExpired, TokenSession

SESSION_ENDED = 3


def main(session_class: type[TokenSession] = TokenSession, **options: Any) -> int:
    env = os.environ
    rounds = int(env.get("TOKENCONFORM_ROUNDS", "3"))
    concurrency = int(env.get("TOKENCONFORM_CONCURRENCY", "4"))
    options.setdefault("refresh_margin", 60)
    session = session_class(env["TOKENCONFORM_URL"], env.get("TOKENCONFORM_PROFILE", "reference"), **options)
    session.login(env["TOKENCONFORM_USERNAME"], env["TOKENCONFORM_PASSWORD"])
    protected = session.profile.protected.endpoint

    def call(_: int) -> str:
        try:
            return str(session.request(protected.method, protected.path).status_code)
        except SessionExpired:
            return "ended"
        except (RefreshUnavailable, requests.RequestException) as exc:
            return type(exc).__name__

    with session, ThreadPoolExecutor(concurrency) as pool:
        for number in range(1, rounds + 1):
            outcomes = list(pool.map(call, range(concurrency)))
            print(f"round {number}: {' '.join(outcomes)}", flush=True)
            if "ended" in outcomes:
                print("the session ended: log in again", flush=True)
                return SESSION_ENDED
    return 0


if __name__ == "__main__":
    sys.exit(main())
