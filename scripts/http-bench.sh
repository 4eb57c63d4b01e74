#!/usr/bin/env bash
# Measures the example server's HTTP throughput (requests per second) on loopback, for three
# requests that differ only in how the caller authenticates:
#
#   1. GET /health                                           (no credential: the floor)
#   2. GET /api/tasks  Authorization: Bearer <access token>  (a JWT from /api/auth/login)
#   3. GET /api/tasks  Authorization: Bearer <osk_live_ key> (an API key from /api/api-keys)
#
# and prints each one's median rps and the ratios (2)/(1) and (3)/(1) as a markdown table
# (target: >= 0.8 for both; the script exits 1 if either is missed), with the server's CPU time
# per request (from /proc), which other load on the machine moves far less than rps.
#
#     scripts/http-bench.sh
#     DURATION=20s CONNECTIONS=64 THREADS=2 ROUNDS=5 scripts/http-bench.sh
#
# It builds `examples/web/server.rs` in release once (`cargo build --release --example server
# --features axum`, into $CARGO_TARGET_DIR, default `target`), starts it on a free loopback port
# with a fresh SQLite database and master key in a temporary directory (rate limiting off,
# RUST_LOG=warn, an admin created through ASSIMETRIA_AUTH_ADMIN_*), logs in, creates a member API
# key, and checks that each URL answers 200 with its credential. Then wrk (installed with apt-get
# if absent) runs every case with the same settings, a 2 s warm-up before each measured run, the
# three cases interleaved ROUNDS times so that noise hits all alike. wrk and the server share the
# machine's cores (the table says how many, and the load average). Not a test: a measurement to
# run by hand (Linux). Needs bash, cargo, curl, python3 (for JSON) and wrk.
#
# Settings (environment): DURATION (10s), CONNECTIONS (32), THREADS (2), ROUNDS (3),
# WARMUP (2s), CARGO_TARGET_DIR (target).

set -euo pipefail

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-2}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-2s}"
TARGET_RATIO=0.8

ADMIN_EMAIL="admin@example.com"
ADMIN_PASSWORD="http bench password"

die() {
    echo "http-bench: $*" >&2
    exit 1
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Cargo reads a relative CARGO_TARGET_DIR from the caller's directory; unset, the workspace's.
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
    target_dir="$(realpath -m -- "$CARGO_TARGET_DIR")"
else
    target_dir="$root/target"
fi
server_bin="$target_dir/release/examples/server"

# --- wrk ------------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    sudo=""
    [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
    echo "http-bench: wrk is not installed; installing it: ${sudo:+sudo }apt-get install -y wrk" >&2
    if ! $sudo apt-get install -y wrk >&2; then
        $sudo apt-get update >&2
        $sudo apt-get install -y wrk >&2
    fi
    command -v wrk >/dev/null 2>&1 || die "wrk is still missing after apt-get install"
fi
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

# --- build ----------------------------------------------------------------------------------
echo "http-bench: building the example server (release) into $target_dir" >&2
(cd "$root" && CARGO_TARGET_DIR="$target_dir" \
    cargo build --quiet --release --example server --features axum)
[[ -x "$server_bin" ]] || die "no server binary at $server_bin after the build"

# --- start the server -----------------------------------------------------------------------
workdir="$(mktemp -d "${TMPDIR:-/tmp}/assimetria-http-bench.XXXXXX")"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true # SIGTERM: the server's graceful shutdown
        for _ in $(seq 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())' >"$workdir/master-key"
chmod 600 "$workdir/master-key"

ASSIMETRIA_AUTH_ADDR="127.0.0.1:$port" \
ASSIMETRIA_AUTH_DATABASE_URL="sqlite://$workdir/auth.db?mode=rwc" \
ASSIMETRIA_AUTH_MASTER_KEY="$(<"$workdir/master-key")" \
ASSIMETRIA_AUTH_RATE_LIMIT=off \
ASSIMETRIA_AUTH_ADMIN_EMAIL="$ADMIN_EMAIL" \
ASSIMETRIA_AUTH_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
ASSIMETRIA_AUTH_OUTBOX="$workdir/outbox.jsonl" \
RUST_LOG=warn \
    "$server_bin" >"$workdir/server.log" 2>&1 &
server_pid=$!

server_failed() {
    echo "http-bench: $*; the server's log:" >&2
    sed 's/^/  | /' "$workdir/server.log" >&2 || true
    exit 1
}
for _ in $(seq 600); do
    curl -fsS -o /dev/null --max-time 1 "$base/health" 2>/dev/null && break
    kill -0 "$server_pid" 2>/dev/null || server_failed "the server exited during start"
    sleep 0.1
done
curl -fsS -o /dev/null --max-time 1 "$base/health" 2>/dev/null ||
    server_failed "the server did not answer /health within 60 s"

# --- credentials ----------------------------------------------------------------------------
json_field() { # json_field FILE FIELD: prints the top-level string FIELD of the JSON in FILE
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
post_json() { # post_json PATH BODY OUT [TOKEN]: POSTs BODY, writes the reply to OUT, prints the
    # status
    curl -sS -o "$3" -w '%{http_code}' -X POST "$base$1" -H 'Content-Type: application/json' \
        ${4:+-H "Authorization: Bearer $4"} -d "$2"
}

login_body="$(python3 -c 'import json, sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' \
    "$ADMIN_EMAIL" "$ADMIN_PASSWORD")"
status="$(post_json /api/auth/login "$login_body" "$workdir/login.json")"
[[ "$status" == 200 ]] || die "POST /api/auth/login answered $status: $(cat "$workdir/login.json")"
access_token="$(json_field "$workdir/login.json" token)"

status="$(post_json /api/api-keys '{"name": "http-bench", "environment": "live", "role": "member"}' \
    "$workdir/key.json" "$access_token")"
[[ "$status" == 201 ]] || die "POST /api/api-keys answered $status: $(cat "$workdir/key.json")"
api_key="$(json_field "$workdir/key.json" key)"
[[ "$api_key" == osk_live_* ]] || die "the API key does not start with osk_live_"
rm -f "$workdir/login.json" "$workdir/key.json"

# The three cases: name, URL, credential ("" = none).
names=(
    "GET /health (no credential)"
    "GET /api/tasks, Bearer access token (JWT)"
    "GET /api/tasks, Bearer API key (osk_live_)"
)
urls=("$base/health" "$base/api/tasks" "$base/api/tasks")
creds=("" "$access_token" "$api_key")

# Each case must answer 200 before it is measured: a flood of 401s would measure the wrong thing.
for i in 0 1 2; do
    status="$(curl -sS -o "$workdir/check.out" -w '%{http_code}' \
        ${creds[i]:+-H "Authorization: Bearer ${creds[i]}"} "${urls[i]}")"
    [[ "$status" == 200 ]] ||
        die "${names[i]} answered $status, not 200: $(head -c 300 "$workdir/check.out")"
done

# --- measure --------------------------------------------------------------------------------
# Server CPU time (user + system, in clock ticks) so far: a second figure per request, which other
# work on the machine moves far less than it moves rps.
ticks_per_sec="$(getconf CLK_TCK)"
server_cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$server_pid/stat"
}

run_wrk() { # run_wrk CASE DURATION: runs wrk, prints "<rps> <requests>"; fails on any non-2xx or error
    local i="$1" duration="$2" out
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" \
        ${creds[i]:+-H "Authorization: Bearer ${creds[i]}"} "${urls[i]}")"
    if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' <<<"$out"; then
        echo "$out" >&2
        die "${names[i]}: wrk saw failed requests (above)"
    fi
    awk '/^Requests\/sec:/ { rps = $2 } / requests in / { n = $1 } END { if (rps && n) print rps, n }' <<<"$out"
}

rps=("" "" "")
cpu_us=("" "" "")
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "http-bench: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up), $ROUNDS rounds of 3 cases" >&2
for round in $(seq "$ROUNDS"); do
    for i in 0 1 2; do
        run_wrk "$i" "$WARMUP" >/dev/null
        before="$(server_cpu_ticks)"
        result="$(run_wrk "$i" "$DURATION")"
        after="$(server_cpu_ticks)"
        [[ -n "$result" ]] || die "${names[i]}: no Requests/sec in wrk's output"
        read -r r n <<<"$result"
        us="$(python3 -c 'import sys; t, hz, n = map(float, sys.argv[1:]); print(f"{t / hz * 1e6 / n:.1f}")' \
            "$((after - before))" "$ticks_per_sec" "$n")"
        rps[i]="${rps[i]} $r"
        cpu_us[i]="${cpu_us[i]} $us"
        echo "http-bench: round $round/$ROUNDS: ${names[i]}: $r rps, server CPU $us µs/request" >&2
    done
done
kill -0 "$server_pid" 2>/dev/null || server_failed "the server died during the runs"
load_end="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report ---------------------------------------------------------------------------------
python3 - "$TARGET_RATIO" "$THREADS" "$CONNECTIONS" "$DURATION" "$ROUNDS" "$(nproc)" \
    "$load_start" "$load_end" \
    "${names[0]}" "${rps[0]}" "${cpu_us[0]}" \
    "${names[1]}" "${rps[1]}" "${cpu_us[1]}" \
    "${names[2]}" "${rps[2]}" "${cpu_us[2]}" <<'EOF'
import statistics
import sys

target, threads, conns, duration, rounds, cores, load_start, load_end = sys.argv[1:9]
target = float(target)
cases = [
    (sys.argv[i], [float(x) for x in sys.argv[i + 1].split()], [float(x) for x in sys.argv[i + 2].split()])
    for i in (9, 12, 15)
]
floor = statistics.median(cases[0][1])
print()
print(f"wrk -t{threads} -c{conns} -d{duration}, median of {rounds} interleaved rounds; the server and "
      f"wrk share the same {cores} cores (load average {load_start} at the start, {load_end} at the end)")
print()
print("| request | rps (median) | ÷ /health | server CPU µs/request (median) | rps of each round |")
print("|---|---|---|---|---|")
ok = True
for n, (name, runs, cpu) in enumerate(cases):
    med = statistics.median(runs)
    ratio = med / floor
    if n > 0 and ratio < target:
        ok = False
    shown = ", ".join(f"{r:,.0f}" for r in runs)
    print(f"| {name} | {med:,.0f} | {ratio:.2f} | {statistics.median(cpu):.1f} | {shown} |")
print()
print(f"target: both ratios >= {target}: " + ("met" if ok else "MISSED"))
sys.exit(0 if ok else 1)
EOF
