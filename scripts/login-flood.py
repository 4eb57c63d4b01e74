#!/usr/bin/env python3
"""Floods the example server with unknown-email logins and forgot-password calls, and prints its
resident memory: idle, peak during the flood, and settled 10 s after it.

    python3 scripts/login-flood.py [--logins 2000] [--forgots 2000] [--concurrency 32] [--release]

It builds and starts `examples/web/server.rs` (`--example server --features axum`) on a fresh
SQLite file (rate limiting off, so every login reaches argon2), measures /proc/<pid>/status,
and exits non-zero if the memory targets are missed: peak <= 64 MiB + hash_concurrency x m_cost,
settled <= 2 x idle. Not a test: a measurement to run
by hand (Linux only). Standard library only.
"""

import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

MIB = 1024 * 1024
M_COST_KIB = 19456  # the crate's default argon2 memory cost


def rss_bytes(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(base, path, body):
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception:  # connection reset, timeout: counted, never fatal
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logins", type=int, default=2000)
    ap.add_argument("--forgots", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--release", action="store_true", help="build the server in release mode")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds to wait after the flood")
    args = ap.parse_args()

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = ["cargo", "build", "--quiet", "--example", "server", "--features", "axum"]
    if args.release:
        build.append("--release")
    subprocess.run(build, cwd=root, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
    binary = os.path.join(target, "release" if args.release else "debug", "examples", "server")

    workdir = tempfile.mkdtemp(prefix="assimetria-flood-")
    port = free_port()
    env = dict(os.environ)
    env.update(
        ASSIMETRIA_AUTH_ADDR=f"127.0.0.1:{port}",
        ASSIMETRIA_AUTH_DATABASE_URL=f"sqlite://{workdir}/auth.db?mode=rwc",
        ASSIMETRIA_AUTH_RATE_LIMIT="off",
        ASSIMETRIA_AUTH_ADMIN_EMAIL="admin@example.com",
        ASSIMETRIA_AUTH_ADMIN_PASSWORD="flood test password",
        ASSIMETRIA_AUTH_OUTBOX=os.path.join(workdir, "outbox.jsonl"),
        RUST_LOG="warn",
    )
    log = open(os.path.join(workdir, "server.log"), "w")
    server = subprocess.Popen([binary], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/health", timeout=1).read()
                break
            except Exception:
                time.sleep(0.1)
        else:
            sys.exit("the server did not start; see " + log.name)
        time.sleep(1.0)
        idle = rss_bytes(server.pid)
        hash_concurrency = os.cpu_count() or 2

        peak = [idle]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    peak[0] = max(peak[0], rss_bytes(server.pid))
                except (OSError, RuntimeError):
                    return
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        statuses = {}
        started = time.monotonic()
        jobs = [("/api/auth/login", {"email": f"nobody{i}@example.com", "password": "wrong password"})
                for i in range(args.logins)]
        jobs += [("/api/auth/forgot-password", {"email": f"nobody{i}@example.com"})
                 for i in range(args.forgots)]
        jobs += [("/api/auth/forgot-password", {"email": "admin@example.com"})] * min(50, args.forgots)
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            for status in pool.map(lambda j: post(base, *j), jobs):
                statuses[status] = statuses.get(status, 0) + 1
        flood_secs = time.monotonic() - started
        settled_at = time.monotonic() + args.settle
        settled = rss_bytes(server.pid)
        while time.monotonic() < settled_at:
            time.sleep(0.25)
            settled = rss_bytes(server.pid)
        stop.set()
        sampler.join()
        peak_rss = max(peak[0], rss_bytes(server.pid, "VmHWM"))

        peak_target = 64 * MIB + hash_concurrency * M_COST_KIB * 1024
        settled_target = 2 * idle
        print(f"requests: {len(jobs)} in {flood_secs:.1f} s, statuses {dict(sorted(statuses.items()))}")
        print(f"idle RSS:    {idle / MIB:7.1f} MiB")
        print(f"peak RSS:    {peak_rss / MIB:7.1f} MiB  (target <= {peak_target / MIB:.1f} MiB = 64 MiB + {hash_concurrency} x {M_COST_KIB // 1024} MiB)")
        print(f"settled RSS: {settled / MIB:7.1f} MiB  ({args.settle:.0f} s after; target <= {settled_target / MIB:.1f} MiB = 2 x idle)")
        ok = peak_rss <= peak_target and settled <= settled_target and server.poll() is None
        print("memory targets met" if ok else "MEMORY TARGETS MISSED")
        sys.exit(0 if ok else 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
