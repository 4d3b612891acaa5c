"""A `coach serve` replica's start: time to ready and resident memory, on PostgreSQL.

    .venv/bin/python benchmarks/bench_replica.py [--reps 5000] [--runs 2] [--replicas 4]
        [--requests 200] [--database NAME] [--keep]
        [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Imports an org of `--reps` reps × 24 months (all 16 counts) into a scratch PostgreSQL database
through the real CSV import (or reuses `--database`, e.g. one left by an earlier `--keep`), then,
`--runs` times each: starts one `coach serve` (scheduler off) and times it from process start
to its first `/healthz` 200 (gap engine loaded and warm); reads its resident memory (VmRSS, and
the peak VmHWM, from /proc) there and again after `--requests` signed `/coach gaps` slash
commands, each answered at its response_url on a Slack stand-in in this process; then starts
`--replicas` replicas at once and times them until every one answers `/healthz`.
Goal (issue 19): a warm replica ≤ 250 MB resident and ready ≤ 5 s after start.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cadence import build_org  # noqa: E402
from bench_load import SECRET, AnsweredStandIn, free_ports, import_and_settle  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bot.demo.standin import sign_slack_request, slash_command_body  # noqa: E402


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def ready_after(url: str, started: float, timeout: float = 300) -> float:
    """Seconds from `started` until `url` answers 200, polling every 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.perf_counter() - started
        except (urllib.error.HTTPError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def scratch_database(admin_url: str, reps: int) -> tuple[str, str, list[tuple[str, str]]]:
    """(database name, URL, (manager Slack id, rep email) pairs) of a new database holding the
    org, imported as an operator would."""
    org, metrics = build_org(reps, reps // 10)
    name = f"coach_replica_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    import_and_settle(url, org, metrics)
    return name, url, pairs_of(url)


def pairs_of(url: str) -> list[tuple[str, str]]:
    """(manager's Slack id, rep's email) for every rep in the database's org chart."""
    return [
        (m, r)
        for m, r in _rows(
            url,
            "SELECT m.slack_user_id, r.email FROM people r JOIN people m ON m.id = r.manager_id "
            "WHERE r.role = 'rep' AND m.slack_user_id IS NOT NULL",
        )
    ]


def directory_of(url: str) -> dict[str, str]:
    """Email → Slack id of everyone in the org chart (the Slack stand-in's directory)."""
    query = "SELECT email, slack_user_id FROM people WHERE slack_user_id IS NOT NULL"
    return dict(_rows(url, query))


def _rows(url: str, query: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [(a, b) for a, b in conn.execute(text(query))]
    engine.dispose()
    return rows


def start(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bot.cli.main", "serve", "--port", str(port)]
    return subprocess.Popen([*command, "--no-scheduler"], env=env, stdout=subprocess.DEVNULL)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def ask(base: str, slack: AnsweredStandIn, pairs: list[tuple[str, str]], n: int) -> None:
    """`n` signed `/coach gaps` commands, one after the other, each waited for until answered."""
    rng = random.Random(n)
    for _ in range(n):
        manager, rep = rng.choice(pairs)
        path = f"/commands/T0/{uuid.uuid4().hex}"
        done = slack.waiting[path] = threading.Event()
        body = slash_command_body(f"gaps {rep}", user_id=manager, response_url=slack.base + path)
        headers = {**sign_slack_request(body, SECRET)}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(base + "/slack/events", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        if not done.wait(30):
            raise RuntimeError("no answer within 30 s")
        slack.waiting.pop(path, None)


def spread(values: list[float], unit: str, digits: int = 1) -> str:
    return f"min {min(values):.{digits}f} {unit}, max {max(values):.{digits}f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database", help="reuse this database (already holding an org)")
    parser.add_argument("--keep", action="store_true", help="leave the scratch database")
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    print(f"replica benchmark · {os.cpu_count()} CPUs · Python {sys.version.split()[0]}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if args.database:
        name, url = args.database, args.admin_url.rsplit("/", 1)[0] + f"/{args.database}"
        pairs = pairs_of(url)
    else:
        name, url, pairs = scratch_database(args.admin_url, args.reps)
        print(f"org: {len(pairs):,} reps × 24 months imported into {name}")
    try:
        with AnsweredStandIn(directory_of(url)) as slack:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
            env.update(
                {
                    "DATABASE_URL": url,
                    "SLACK_BOT_TOKEN": "xoxb-replica",
                    "SLACK_SIGNING_SECRET": SECRET,
                    "SLACK_API_URL": slack.url,
                    "COACH_LOG_LEVEL": "WARNING",
                }
            )
            ready, warm_rss, warm_hwm, served_rss, served_hwm, many = [], [], [], [], [], []
            for _ in range(args.runs):
                [port] = free_ports(1)
                started = time.perf_counter()
                process = start(env, port)
                try:
                    base = f"http://127.0.0.1:{port}"
                    ready.append(ready_after(base + "/healthz", started))
                    rss, hwm = memory_mb(process.pid)
                    warm_rss.append(rss)
                    warm_hwm.append(hwm)
                    ask(base, slack, pairs, args.requests)
                    rss, hwm = memory_mb(process.pid)
                    served_rss.append(rss)
                    served_hwm.append(hwm)
                finally:
                    stop([process])
                ports = free_ports(args.replicas)
                started = time.perf_counter()
                processes = [start(env, p) for p in ports]
                try:
                    many.append(
                        max(ready_after(f"http://127.0.0.1:{p}/healthz", started) for p in ports)
                    )
                finally:
                    stop(processes)
    finally:
        if not args.keep and not args.database:
            admin = create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(f"one replica ready (/healthz 200) after start: {spread(ready, 's', 2)}")
    print(
        f"  resident when ready: VmRSS {spread(warm_rss, 'MB', 0)}; "
        f"VmHWM {spread(warm_hwm, 'MB', 0)}"
    )
    print(
        f"  after {args.requests} /coach gaps: VmRSS {spread(served_rss, 'MB', 0)}; "
        f"VmHWM {spread(served_hwm, 'MB', 0)}"
    )
    print(f"{args.replicas} replicas at once, all ready after start: {spread(many, 's', 2)}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print("goal (issue 19): ≤ 250 MB resident, ready ≤ 5 s")


if __name__ == "__main__":
    main()
