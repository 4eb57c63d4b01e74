#!/usr/bin/env bash
# Contract fuzzing: the example axum server against the OpenAPI document it serves at
# /openapi.json. Schemathesis generates requests for every documented operation (valid and
# invalid ones) and fails on any 5xx, on any reply whose status, content type, headers or body
# the document does not describe, on a schema-invalid request that is accepted, on a wrong
# method not answered 405 with Allow, and on an operation that answers without its credential.
#
#   scripts/schemathesis.sh            # from the repository root; CI calls it from .ci/run
#
# Environment: SCHEMATHESIS_CHECKS and SCHEMATHESIS_EXCLUDE_CHECKS (default: all checks but
# positive_data_acceptance, see below), SCHEMATHESIS_SERVER (`server`, the axum one, by default;
# `server_actix`), SCHEMATHESIS_MAX_EXAMPLES (default 25 per operation and phase),
# SCHEMATHESIS_TIMEOUT (default 600 s for the whole run), SCHEMATHESIS_SEED (default: random;
# the seed is printed either way, to reproduce a failure), CARGO_TARGET_DIR (the virtual
# environment lives under it, in schemathesis-venv/, not in the repository).
#
# The server runs with ASSIMETRIA_AUTH_RATE_LIMIT=off: with limits on, the fuzzer's thousands of
# logins would be answered 429 (documented, so still conformant) and the rest of the run would
# test nothing but the limiter. See scripts/schemathesis_hooks.py for how the run survives the
# fuzzer's own logouts and role changes.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
venv="$(cd "$target" && pwd)/schemathesis-venv"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
limit="${SCHEMATHESIS_TIMEOUT:-600}"
seed="${SCHEMATHESIS_SEED:-$RANDOM$RANDOM}"
# Every check but positive_data_acceptance, which expects any schema-valid request to succeed:
# a well-formed reset or verification token that names nothing is rightly 400, a key name with a
# control character 422, a user with neither a password nor a hash 422.
checks="${SCHEMATHESIS_CHECKS:-all}"
# The axum server by default (CI); SCHEMATHESIS_SERVER=server_actix fuzzes the actix-web one.
server="${SCHEMATHESIS_SERVER:-server}"
case "$server" in server) features=axum ;; server_actix) features=actix ;; *) echo "unknown server $server"; exit 2 ;; esac
exclude="${SCHEMATHESIS_EXCLUDE_CHECKS:-positive_data_acceptance}"

if [ "$("$venv/bin/schemathesis" --version 2>/dev/null | grep -o '[0-9][0-9.]*$')" != "$version" ]; then
  echo "installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

# The server, on a fresh SQLite file, with an admin to fuzz as.
cargo build --quiet --example "$server" --features "$features"
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
admin_email=fuzz-admin@example.com
admin_password='schemathesis admin password'
ASSIMETRIA_AUTH_ADDR="127.0.0.1:$port" \
ASSIMETRIA_AUTH_DATABASE_URL="sqlite://$dir/auth.db?mode=rwc" \
ASSIMETRIA_AUTH_ADMIN_EMAIL="$admin_email" ASSIMETRIA_AUTH_ADMIN_PASSWORD="$admin_password" \
ASSIMETRIA_AUTH_RATE_LIMIT=off ASSIMETRIA_AUTH_OUTBOX="$dir/outbox.jsonl" RUST_LOG=warn \
  cargo run --quiet --example "$server" --features "$features" >"$dir/server.log" 2>&1 &
server_pid=$!
stop() {
  kill -INT "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap stop EXIT
fail() { echo "FAIL: $*"; cat "$dir/server.log"; exit 1; }
# Schemathesis keeps a crash cache in ./.schemathesis: the temporary directory, not the repository.
run_in() { (cd "$1" && shift && "$@"); }
for _ in $(seq 1 120); do
  curl -fsS "$base/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || fail "the example server exited"
  sleep 1
done
curl -fsS "$base/openapi.json" >/dev/null || fail "no /openapi.json"

login=$(curl -fsS -X POST "$base/api/auth/login" -H "Content-Type: application/json" \
  -d "{\"email\": \"$admin_email\", \"password\": \"$admin_password\"}")
token=$(printf '%s' "$login" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
admin_id=$(printf '%s' "$login" | sed -n 's/.*"user":{"id":\([0-9]*\).*/\1/p')
[ -n "$token" ] && [ -n "$admin_id" ] || fail "admin login: $login"
# The member the hooks aim the fuzzer's role changes of its own account at.
member=$(curl -fsS -X POST "$base/api/users" -H "Authorization: Bearer $token" \
  -H "Content-Type: application/json" \
  -d '{"email": "fuzz-target@example.com", "password": "schemathesis target password", "role": "member"}')
target_id=$(printf '%s' "$member" | sed -n 's/.*"user":{"id":\([0-9]*\).*/\1/p')
[ -n "$target_id" ] || fail "creating the target user: $member"

echo "schemathesis $version against $server at $base/openapi.json (seed $seed, $max_examples examples, ${limit}s)"
start=$(date +%s)
status=0
ST_BASE_URL="$base" ST_TOKEN="$token" ST_ADMIN_EMAIL="$admin_email" \
ST_ADMIN_PASSWORD="$admin_password" ST_ADMIN_ID="$admin_id" ST_TARGET_ID="$target_id" \
PYTHONPATH="$PWD/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks \
  run_in "$dir" timeout "$limit" "$venv/bin/schemathesis" --no-color run "$base/openapi.json" \
  --checks "$checks" --exclude-checks "$exclude" \
  --max-examples "$max_examples" --seed "$seed" --workers 1 --request-timeout 30 \
  --suppress-health-check too_slow \
  || status=$?
echo "schemathesis: exit $status after $(($(date +%s) - start))s"
[ "$status" -eq 124 ] && fail "schemathesis did not finish within ${limit}s"
[ "$status" -eq 0 ] || fail "schemathesis found failures (seed $seed; rerun with SCHEMATHESIS_SEED=$seed)"
# The run stayed meaningful: the fuzzer's account is still an admin that can sign in.
me=$(curl -fsS "$base/api/auth/me" -H "Authorization: Bearer $(
  curl -fsS -X POST "$base/api/auth/login" -H "Content-Type: application/json" \
    -d "{\"email\": \"$admin_email\", \"password\": \"$admin_password\"}" |
    sed -n 's/.*"token":"\([^"]*\)".*/\1/p')")
case "$me" in *'"role":"admin"'*) ;; *) fail "the fuzzer's admin lost its role: $me" ;; esac
# A 5xx the server logged (the crate logs each at ERROR), or a panic. (actix-web logs a client's
# malformed header at ERROR as well, from actix_http: a refused request, not a server failure.)
grep -E ' ERROR (assimetria_auth|example_support|server)|panicked' "$dir/server.log" &&
  fail "the server logged errors"
echo "schemathesis: passed"
