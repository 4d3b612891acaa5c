"""Faults under load: PostgreSQL restarted while `/coach gaps` and plan submissions come in.

    .venv/bin/python benchmarks/bench_faults.py [--replicas 4] [--clients 16] [--submitters 4]
        [--seconds 40] [--down 5] [--reps 5000]

Sets up as `bench_load.py` does (scratch database, simulated org, `coach serve` replicas), then
sends signed `/coach gaps` from `--clients` threads and plan-modal submissions from
`--submitters` threads (each for a rep nobody planned yet) for `--seconds`. A third of the way in,
it stops the machine's PostgreSQL server (`pg_ctlcluster … stop -m fast`), waits `--down`
seconds and starts it again. It needs to run as the server's owner (root here), and stops the
server for everything else on the machine meanwhile.

Prints how requests were answered before, during and after the outage — a real answer, the
polite "can't reach its database" answer, or an error (no answer, HTTP 404/5xx, a timeout) — how
long after the server was back each replica answered for real again, and whether every plan
submission that got a success reply is in the database (none may be lost).

Then it kills (`kill -9`) a `coach run day-one` for the whole org `--kill-after` seconds in — as a
replica dying mid-send looks to the database — reruns it at once and again once the dead run's
claims are stale (COACH_CLAIM_TIMEOUT=120), and counts the messages Slack holds per key: each
must be there exactly once.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_cadence import build_org  # noqa: E402
from bench_load import SECRET, AnsweredStandIn, coach_cluster, load  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bot.demo.standin import (  # noqa: E402
    interaction_body,
    new_trigger_id,
    sign_slack_request,
    slash_command_body,
)
from bot.slack.blocks.plan import PLAN_CALLBACK  # noqa: E402
from bot.slack.listeners.errors import DATABASE_DOWN  # noqa: E402

CLUSTER = sorted(os.listdir("/etc/postgresql"))[-1] if os.path.isdir("/etc/postgresql") else "15"


def pg_ctl(action: str) -> None:
    """Stop or start the machine's PostgreSQL cluster."""
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTER, "main", action]
    subprocess.run(command + (["-m", "fast"] if action == "stop" else []), check=True)


@dataclass
class Outcomes:
    """What each request got, by phase (before, during, after the outage)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, phase: str, outcome: str) -> None:
        with self.lock:
            self.counts.setdefault(phase, Counter())[outcome] += 1


def post(url: str, body: bytes) -> tuple[int | str, str]:
    headers = {**sign_slack_request(body, SECRET)}
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url + "/slack/events", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError as exc:
        return type(exc).__name__, ""


def plan_submission(manager: str, rep: str, tag: str) -> bytes:
    """A plan modal's submission, as Slack sends it: close rate to 99%, tagged in "why"."""
    today = datetime.now(UTC).date()
    month = today.strftime("%Y-%m")
    dates = [today + timedelta(days=1), today + timedelta(days=2)]
    values = {
        "focus": {
            "value": {"type": "multi_static_select", "selected_options": [{"value": "close_rate"}]}
        },
        "why": {"value": {"type": "plain_text_input", "value": tag}},
        "how": {"value": {"type": "plain_text_input", "value": "Record 2 demos"}},
        "target_1": {"value": {"type": "plain_text_input", "value": "99%"}},
        "target_2": {"value": {"type": "plain_text_input", "value": None}},
        "checkin_1": {"value": {"type": "datepicker", "selected_date": dates[0].isoformat()}},
        "checkin_2": {"value": {"type": "datepicker", "selected_date": dates[1].isoformat()}},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": "T0C0ACH01", "domain": "coach-test"},
        "user": {"id": manager, "team_id": "T0C0ACH01"},
        "api_app_id": "A0C0ACH01",
        "trigger_id": new_trigger_id(),
        "view": {
            "id": f"V{uuid.uuid4().hex[:8].upper()}",
            "type": "modal",
            "callback_id": PLAN_CALLBACK,
            "private_metadata": json.dumps({"rep": rep, "month": month}),
            "blocks": [{"type": "input", "block_id": "focus"}],
            "state": {"values": values},
        },
    }
    return interaction_body(payload)


def posted_keys(slack: AnsweredStandIn) -> Counter[str]:
    """How many times each cadence key was posted (from the messages' metadata)."""
    keys: Counter[str] = Counter()
    for message in list(slack.messages.values()):
        metadata = message.get("metadata") or {}
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        key = (metadata.get("event_payload") or {}).get("key")
        if key:
            keys[key] += 1
    return keys


def kill_mid_day_one(env: dict[str, str], slack: AnsweredStandIn, after: float) -> str:
    """`kill -9` a `coach run day-one` (a replica's scheduler, as far as the database can
    tell) `after` seconds in; rerun at once, and again once its claims are stale."""
    month = datetime.now(UTC).strftime("%Y-%m")
    run_env = {**env, "COACH_SEND_RATE": "0", "COACH_CLAIM_TIMEOUT": "120"}
    command = [sys.executable, "-m", "bot.cli.main", "run", "day-one", "--month", month]
    victim = subprocess.Popen(command, env=run_env, stdout=subprocess.DEVNULL)
    time.sleep(after)
    victim.kill()
    victim.wait()
    killed_at = time.monotonic()
    before = sum(posted_keys(slack).values())

    def rerun() -> str:
        done = subprocess.run(command, env=run_env, capture_output=True, text=True)
        said = " ".join(done.stdout.split())  # rich wraps lines at 80 columns off a terminal
        return f"exit {done.returncode}: " + said[said.rfind("day-one ") :]

    at_once = rerun()
    time.sleep(max(0.0, killed_at + 125 - time.monotonic()))
    later = rerun()
    keys = posted_keys(slack)
    doubles = sum(n - 1 for n in keys.values() if n > 1)
    return (
        f"day one killed after {after:.0f} s with {before:,} messages posted\n"
        f"  rerun at once:               {at_once}\n"
        f"  rerun after the claim timeout: {later}\n"
        f"  messages in Slack: {sum(keys.values()):,} for {len(keys):,} keys; "
        f"posted twice: {doubles}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--submitters", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--down", type=float, default=5)
    parser.add_argument("--reps", type=int, default=5000)
    parser.add_argument(
        "--kill-after",
        type=float,
        default=20,  # loading 5,000 reps' engine takes about 10 s of it; then it sends
        help="then: kill -9 a `coach run day-one` after this many seconds (0: skip)",
    )
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    print(f"fault benchmark · {os.cpu_count()} CPUs · Python {sys.version.split()[0]}")
    org, metrics = build_org(args.reps, args.reps // 10)
    managers = dict(zip(org["email"], org["slack_user_id"], strict=True))
    with (
        AnsweredStandIn(managers) as slack,
        coach_cluster(args.admin_url, args.replicas, slack, org, metrics) as cluster,
    ):
        print(
            f"org: {args.reps:,} reps × 24 months on PostgreSQL; {args.clients} clients asking "
            f"for gaps, {args.submitters} submitting plans; PostgreSQL down for {args.down:.0f} s"
        )
        load(cluster.coach, cluster.pairs, slack, args.replicas * 2, 3)  # warm, as bench_load
        marks: dict[str, float] = {}
        outcomes = Outcomes()
        answers: dict[str, tuple[float, str]] = {}  # response_url → (sent at, replica)
        saved: list[str] = []  # tags of plan submissions that got a success reply
        replicas = itertools.cycle(cluster.coach)
        rep_queue = iter(cluster.pairs)
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds

        def phase(at: float) -> str:
            """When a request was sent: before the stop command, until the server was up
            again, or after."""
            if "down" not in marks or at < marks["down"]:
                return "before"
            return "during" if "up" not in marks or at < marks["up"] else "after"

        def asker(seed: int) -> None:
            pairs = cluster.pairs
            i = seed
            while time.monotonic() < deadline:
                manager, rep = pairs[(i * 7919) % len(pairs)]
                i += args.clients
                path = f"/commands/T0/{uuid.uuid4().hex}"
                done = slack.waiting[path] = threading.Event()
                body = slash_command_body(
                    f"gaps {rep}", user_id=manager, response_url=slack.base + path
                )
                with lock:
                    url = next(replicas)
                start = time.time()
                status, _ = post(url, body)
                if status == 200:
                    with lock:
                        answers[slack.base + path] = (start, url)
                    done.wait(30)  # a person waits for the answer before asking again
                else:
                    outcomes.add(phase(start), f"error: {status}")
                slack.waiting.pop(path, None)

        def submitter() -> None:
            while time.monotonic() < deadline:
                with lock:
                    pair = next(rep_queue, None)
                    url = next(replicas)
                if pair is None:
                    return  # every rep has a plan
                manager, rep = pair
                tag = f"fault-bench {uuid.uuid4().hex}"
                start = time.time()
                status, body = post(url, plan_submission(manager, rep, tag))
                if status == 200 and not body:
                    outcome = "saved"
                    with lock:
                        saved.append(tag)
                elif status == 200 and DATABASE_DOWN[:150] in body:
                    outcome = "polite"
                elif status == 200 and '"response_action": "errors"' in body:
                    outcome = "refused by validation"  # e.g. a rep without numbers
                else:
                    outcome = f"error: {status} {body[:80]}"
                outcomes.add("submit " + phase(start), outcome)

        threads = [threading.Thread(target=asker, args=(i,)) for i in range(args.clients)]
        threads += [threading.Thread(target=submitter) for _ in range(args.submitters)]
        for t in threads:
            t.start()
        time.sleep(args.seconds / 3)
        marks["down"] = time.time()
        pg_ctl("stop")
        time.sleep(args.down)
        pg_ctl("start")
        marks["up"] = time.time()
        for t in threads:
            t.join()
        time.sleep(3)  # answers still on their way

        first_ok: dict[str, float] = {}
        for call in slack.calls_to("response_url"):
            sent = answers.get(slack.base + call.path)
            if sent is None:
                continue
            start, replica = sent
            polite = call.params.get("text") == DATABASE_DOWN
            outcomes.add(phase(start), "polite" if polite else "answer")
            if not polite and start >= marks["up"]:
                first_ok[replica] = min(first_ok.get(replica, float("inf")), call.at)
        answered = {slack.base + c.path for c in slack.calls_to("response_url")}
        for url_, (start, _) in answers.items():
            if url_ not in answered:
                outcomes.add(phase(start), "acked, never answered")

        engine = create_engine(cluster.url)
        with engine.connect() as conn:
            stored = set(
                conn.scalars(text("SELECT why FROM plans WHERE why LIKE 'fault-bench %'")).all()
            )
        engine.dispose()
        killed = kill_mid_day_one(cluster.env, slack, args.kill_after) if args.kill_after else None

    print(f"PostgreSQL stopped and started again: {marks['up'] - marks['down']:.1f} s")
    for name in ("before", "during", "after", "submit before", "submit during", "submit after"):
        counts = outcomes.counts.get(name, Counter())
        print(f"  {name:14} " + ", ".join(f"{n:,} {what}" for what, n in counts.most_common()))
    back = [first_ok[r] - marks["up"] for r in cluster.coach if r in first_ok]
    missing = len(cluster.coach) - len(back)
    print(
        "  back to real answers after PostgreSQL was up: "
        + ", ".join(f"{s:.1f} s" for s in sorted(back))
        + (f"; {missing} replica(s) never" if missing else "")
    )
    if killed is not None:
        print(killed)
    lost = [tag for tag in saved if tag not in stored]
    print(
        f"  plan submissions with a success reply: {len(saved):,}; in the database: "
        f"{len(saved) - len(lost):,}; lost: {len(lost)}; saved without a success reply: "
        f"{len(stored - set(saved))}"
    )


if __name__ == "__main__":
    main()
