"""retries_until_success: a call refused again after refresh + retry is retried, up to four
times. Fails CLI-02."""

import sys
from typing import Any

import requests
from _app import app

from tokenconform.session_client import TokenSession


class RetriesUntilSuccess(TokenSession):
    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(method, url, *args, **kwargs)
        for _ in range(3):
            if response.status_code != 401 or self.tokens is None:
                break
            response = super().request(method, url, *args, **kwargs)
        return response


if __name__ == "__main__":
    sys.exit(app().main(RetriesUntilSuccess))
