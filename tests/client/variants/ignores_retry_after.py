"""ignores_retry_after: retries a 503 at once, whatever Retry-After says. Fails CLI-07."""

import sys

from _app import app

from tokenconform.session_client import TokenSession

if __name__ == "__main__":
    sys.exit(app().main(TokenSession, sleep=lambda seconds: None))
