"""Load: `/coach gaps` from many clients against several `coach serve` replicas on PostgreSQL.

    .venv/bin/python benchmarks/bench_load.py [--replicas 4] [--clients 20] [--seconds 60]
        [--reps 5000] [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Creates a scratch PostgreSQL database, imports an org of `--reps` reps × 24 months through the
real CSV import, starts `--replicas` `coach serve` processes (scheduler off) and as many bare Bolt
apps that only ack `/coach` (the framework's floor), and has `--clients` threads send signed
`/coach gaps` slash commands — a manager asking about one of their reps — round-robin for
`--seconds` against each set in turn. Each client waits, as a person does, for coach's answer —
the blocks posted to the response_url, on the Slack stand-in in this process — before its next
command (for the floor app, which answers nothing more, for the ack). Prints, for both, the time
to Slack's HTTP answer (the ack), and for coach the time to the answer; errors (no ack, or no
answer within 30 s); and each replica's resident memory afterwards.
Goal (issue 7): p95 within 3× the floor and under 100 ms; no errors.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
from bench_cadence import build_org  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from analytics.catalogue import load_catalogue  # noqa: E402
from bot.demo.run import write_demo_csvs  # noqa: E402
from bot.demo.standin import SlackStandIn, sign_slack_request, slash_command_body  # noqa: E402
from storage.csv_import import import_metrics, import_org  # noqa: E402
from storage.db import make_engine, session_scope, upgrade  # noqa: E402

SECRET = "load-signing-secret"
FLOOR_APP = """
import sys
from wsgiref.simple_server import make_server, WSGIServer, WSGIRequestHandler
from socketserver import ThreadingMixIn
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass

import os
from slack_sdk import WebClient
client = WebClient(token="xoxb-floor", base_url=os.environ["SLACK_API_URL"])
app = App(signing_secret=sys.argv[2], client=client, token_verification_enabled=False)
app.command("/coach")(lambda ack: ack())
make_server("127.0.0.1", int(sys.argv[1]), SlackRequestHandler(app), Server, Quiet).serve_forever()
"""


def free_ports(n: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_healthy(url: str, timeout: float = 300, *, any_answer: bool = False) -> None:
    """Wait until `url` answers 200 (coach's /healthz: warm and connected), or, with
    `any_answer`, anything at all (the floor app has no /healthz)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            if any_answer:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def percentiles(values: list[float]) -> str:
    if not values:
        return "no answers"
    ordered = sorted(values)
    p = {q: ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] for q in (50, 95, 99)}
    return f"p50 {p[50]:6.1f} ms  p95 {p[95]:6.1f} ms  p99 {p[99]:6.1f} ms"


class AnsweredStandIn(SlackStandIn):
    """The stand-in, telling waiting clients when their response_url has been answered."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: dict[str, threading.Event] = {}

    def _serve(self, request: Any) -> None:
        super()._serve(request)
        event = self.waiting.get(request.path)
        if event is not None:
            event.set()


def load(
    urls: list[str],
    pairs: list[tuple[str, str]],
    slack: AnsweredStandIn,
    clients: int,
    seconds: float,
    *,
    answers: bool = True,
) -> tuple[list[float], list[float], int, int]:
    """Send signed `/coach gaps` from `clients` threads for `seconds`: (ack ms, answer ms,
    requests, errors). Each client sends its next command once it has its answer — the blocks
    at the response_url, as a person waits for them — or, without `answers`, once it has the
    ack (the floor app answers nothing else)."""
    acks: list[float] = []
    answered: list[float] = []
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()
    targets = itertools.cycle(urls)
    deadline = time.monotonic() + seconds
    began = time.time()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            manager, rep = rng.choice(pairs)
            path = f"/commands/T0/{uuid.uuid4().hex}"
            response_url = slack.base + path
            done = slack.waiting[path] = threading.Event()
            body = slash_command_body(f"gaps {rep}", user_id=manager, response_url=response_url)
            headers = {**sign_slack_request(body, SECRET)}
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            with lock:
                url = next(targets)
            request = urllib.request.Request(url + "/slack/events", data=body, headers=headers)
            start = time.time()
            reason = None
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
            except OSError as exc:
                reason = type(exc).__name__
            elapsed = (time.time() - start) * 1000
            if reason is None and answers and not done.wait(30):
                reason = "no answer within 30 s"
            slack.waiting.pop(path, None)
            with lock:
                counts["requests"] += 1
                if reason is None:
                    acks.append(elapsed)
                    if answers:
                        answered.append((time.time() - start) * 1000)
                else:
                    counts["errors"] += 1
                    reasons[reason] += 1  # type: ignore[index]
                    failed_at.append(start - began)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    # This process plays Slack and the clients: a full collection over the calls it has
    # recorded would pause them all and be counted against the replicas.
    gc.disable()
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        gc.enable()
    return acks, answered, counts["requests"], counts["errors"]


reasons: Counter[str] = Counter()  # why requests failed, over every run
failed_at: list[float] = []  # when, in seconds from the start of its run


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Cluster:
    """`coach serve` replicas on a scratch PostgreSQL database holding a simulated org."""

    url: str  # the database
    coach: list[str]  # each replica's base URL
    processes: list[subprocess.Popen[bytes]]
    pairs: list[tuple[str, str]]  # (manager's Slack id, one of their reps' email)
    env: dict[str, str]
    ready_seconds: float  # from starting the replicas until every one answers /healthz


def import_and_settle(url: str, org: pd.DataFrame, metrics: pd.DataFrame) -> None:
    """Migrate the database at `url` and import `org` and `metrics` as an operator would, then
    let PostgreSQL settle (as an operator would, and as autovacuum and the next checkpoint
    would, in the middle of a measurement otherwise)."""
    with tempfile.TemporaryDirectory() as tmp:
        org_csv, metrics_csv = write_demo_csvs(Path(tmp), org, metrics)
        upgrade(url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            import_org(session, "default", org_csv)
            import_metrics(session, "default", metrics_csv, load_catalogue())
        engine.dispose()
    settle = create_engine(url, isolation_level="AUTOCOMMIT")
    with settle.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text("CHECKPOINT"))
    settle.dispose()


@contextmanager
def coach_cluster(
    admin_url: str,
    replicas: int,
    slack: SlackStandIn,
    org: pd.DataFrame,
    metrics: pd.DataFrame,
) -> Iterator[Cluster]:
    """Import `org` and `metrics` into a scratch database, start `replicas` `coach serve`
    processes (scheduler off) and wait until each is warm; everything is torn down after."""
    name = f"coach_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        import_and_settle(url, org, metrics)
        managers = dict(zip(org["email"], org["slack_user_id"], strict=True))
        rep_rows = org[org["role"] == "rep"]
        pairs = [
            (managers[m], r)
            for r, m in zip(rep_rows["email"], rep_rows["manager_email"], strict=True)
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
        env.update(
            {
                "DATABASE_URL": url,
                "SLACK_BOT_TOKEN": "xoxb-load",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": slack.url,
                "COACH_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            }
        )
        ports = free_ports(replicas)
        python = str(Path(sys.executable))
        started = time.perf_counter()
        for port in ports:
            command = [python, "-m", "bot.cli.main", "serve", "--port", str(port), "--no-scheduler"]
            processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL))
        coach = [f"http://127.0.0.1:{p}" for p in ports]
        for base in coach:
            wait_healthy(base + "/healthz")  # 200 once the replica's gap engine is warm
        yield Cluster(url, coach, processes, pairs, env, time.perf_counter() - started)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    print(f"load benchmark · {os.cpu_count()} CPUs · Python {sys.version.split()[0]}")
    org, metrics = build_org(args.reps, args.reps // 10)
    managers = dict(zip(org["email"], org["slack_user_id"], strict=True))
    floor_processes: list[subprocess.Popen[bytes]] = []
    with (
        AnsweredStandIn(managers) as slack,
        coach_cluster(args.admin_url, args.replicas, slack, org, metrics) as cluster,
    ):
        print(f"org: {args.reps:,} reps × 24 months on PostgreSQL; {args.clients} clients")
        try:
            ports = free_ports(args.replicas)
            floor = [f"http://127.0.0.1:{p}" for p in ports]
            python = str(Path(sys.executable))
            for port in ports:
                command = [python, "-c", FLOOR_APP, str(port), SECRET]
                floor_processes.append(
                    subprocess.Popen(command, env=cluster.env, stdout=subprocess.DEVNULL)
                )
            for base in floor:
                wait_healthy(base + "/slack/events", any_answer=True)
            coach, pairs = cluster.coach, cluster.pairs
            # A short run warms what /healthz doesn't (connection pools, lazy imports), as on a
            # replica that has served a while.
            load(coach, pairs, slack, args.replicas * 2, 3)
            acks, answers, requests, errors = load(coach, pairs, slack, args.clients, args.seconds)
            rss = [rss_mb(p.pid) for p in cluster.processes]
            ready = cluster.ready_seconds
            floor_acks, _, floor_requests, floor_errors = load(
                floor, pairs, slack, args.clients, args.seconds, answers=False
            )
        finally:
            for process in floor_processes:
                process.terminate()
                process.wait(timeout=30)
    print(
        f"coach, {args.replicas} replicas: {requests:,} requests in {args.seconds:.0f} s "
        f"({requests / args.seconds:,.0f}/s), {errors} errors"
    )
    print(f"  to the ack          {percentiles(acks)}")
    if reasons:
        print(f"  errors: {', '.join(f'{n} × {r}' for r, n in reasons.most_common())}")
        seconds = Counter(int(t) for t in failed_at)
        print(f"  errors by second of their run: {dict(sorted(seconds.items()))}")
    print(f"  to the answer       {percentiles(answers)}  ({len(answers):,} answers)")
    print(
        f"bare Bolt (only acks), {args.replicas} replicas: {floor_requests:,} requests "
        f"({floor_requests / args.seconds:,.0f}/s), {floor_errors} errors"
    )
    print(f"  to the ack          {percentiles(floor_acks)}")
    print(f"resident memory per coach replica: {', '.join(f'{m:.0f} MB' for m in rss)}")
    print(f"replicas ready (all {args.replicas} answering /healthz) {ready:.1f} s after start")


if __name__ == "__main__":
    main()
