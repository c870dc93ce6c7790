"""Rows of the public pages (the overview, the health check), signing in and out, and the
password change."""

from tests.views.access import ROLES, SIGNED_IN, expect

ROUTES = {
    "GET /": expect(**dict.fromkeys(ROLES, 200)),
    "GET /healthz": expect(**dict.fromkeys(ROLES, 200)),
    "GET /health": expect(**dict.fromkeys(ROLES, 200)),
    "GET /sign-in": expect(anonymous=200, **dict.fromkeys(SIGNED_IN, 303)),
    # An empty form: its problems shown again (a signed-in person is sent on instead).
    "POST /sign-in": expect(anonymous=200, **dict.fromkeys(SIGNED_IN, 303)),
    "GET /account/password": expect(anonymous=302, **dict.fromkeys(SIGNED_IN, 200)),
    "POST /account/password": expect(anonymous=302, **dict.fromkeys(SIGNED_IN, 200)),
    "POST /sign-out": expect(anonymous=302, **dict.fromkeys(SIGNED_IN, 303)),
}
