"""no_single_flight_cookies: the cookie jar client, but every 401 refreshes on its own (one after
the other, each with the refresh cookie the jar then holds), so N concurrent 401s make N
refreshes. Fails CLI-01 under --delivery cookie."""

import sys

from _app import app
from _jar import CookieJarSession
from no_single_flight import NoSingleFlight


class NoSingleFlightCookies(NoSingleFlight, CookieJarSession):
    pass


if __name__ == "__main__":
    sys.exit(app().main(NoSingleFlightCookies))
