"""Schemathesis hooks for scripts/schemathesis.sh: keep a fuzzing run against the live example
server meaningful while the fuzzer exercises the endpoints that end its own credential.

* Authentication: the admin's bearer token the script obtained by logging in, and a fresh login
  whenever a reply says 401 (the fuzzer's own `POST /api/auth/logout` revokes the token it
  used; `scope=global` ends every session of the account).
* `PATCH /api/users/{id}` aimed at the fuzzer's own account is redirected to a member the script
  created for it: an admin demoting itself would turn the rest of the run into 403s. Every other
  id goes through as generated.

Read from the environment: ST_BASE_URL, ST_TOKEN, ST_ADMIN_EMAIL, ST_ADMIN_PASSWORD,
ST_ADMIN_ID, ST_TARGET_ID.
"""

import json
import os
import urllib.request

import schemathesis

BASE = os.environ["ST_BASE_URL"]
ADMIN_ID = os.environ["ST_ADMIN_ID"]
TARGET_ID = int(os.environ["ST_TARGET_ID"])


def login():
    body = json.dumps(
        {"email": os.environ["ST_ADMIN_EMAIL"], "password": os.environ["ST_ADMIN_PASSWORD"]}
    ).encode()
    request = urllib.request.Request(
        f"{BASE}/api/auth/login",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)["token"]


@schemathesis.auth(refresh_interval=3600, retry_on=[401])
class AdminLogin:
    """The script's token first; a new login after a 401."""

    def __init__(self):
        self.initial = os.environ.get("ST_TOKEN")

    def get(self, case, context):
        token, self.initial = self.initial, None
        return token or login()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def before_call(context, case, **kwargs):
    op = case.operation
    if op.method.upper() == "PATCH" and op.path == "/api/users/{id}":
        params = case.path_parameters or {}
        if str(params.get("id")) == ADMIN_ID:
            params["id"] = TARGET_ID
            case.path_parameters = params
