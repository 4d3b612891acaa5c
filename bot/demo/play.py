"""`coach demo`, part two: play `/coach gaps`, a plan and a check-in through the real app.

The app is served on a local port exactly as in production; Slack is the in-process stand-in.
Every request is signed like Slack's, and what each person would see is printed readably, with
the Block Kit JSON written next to the demo's CSVs.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, select

from bot.cadence.jobs import Cadence
from bot.cli.terminal import render_blocks, render_mrkdwn
from bot.coaching.months import month_bounds
from bot.coaching.services import Services
from bot.demo.standin import (
    SlackStandIn,
    interaction_body,
    new_trigger_id,
    sign_slack_request,
    slash_command_body,
)
from bot.settings import Settings
from bot.slack.app import create_app
from bot.slack.server import make_http_server
from storage.db import session_scope
from storage.models import Person

SECRET = "demo-signing-secret"


class _Player:
    """Sends signed requests to the served app and collects what Slack received."""

    def __init__(self, url: str, slack: SlackStandIn, out: Path, console: Console):
        self.url, self.slack, self.out, self.console = url, slack, out, console
        self.step = 0

    def post(self, body: bytes) -> str:
        import urllib.request

        headers = {**sign_slack_request(body, SECRET)}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.url + "/slack/events", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def command(self, text: str, user_id: str) -> None:
        """`/coach <text>` from `user_id`, as Slack sends it."""
        body = slash_command_body(
            text,
            user_id=user_id,
            response_url=self.slack.response_url(),
            trigger_id=new_trigger_id(),
        )
        self.post(body)

    def show(self, who: str, what: str, payload: dict[str, Any]) -> None:
        self.step += 1
        slug = re.sub(r"[^a-z0-9]+", "_", what.lower()).strip("_")
        name = f"{self.step:02d}_{slug}.json"
        (self.out / name).write_text(json.dumps(payload, indent=2, ensure_ascii=False))
        blocks = payload.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        self.console.rule(f"[bold]{who}[/] sees: {what}  [dim](demo/slack/{name})[/]")
        self.console.print(
            render_blocks(blocks) if blocks else render_mrkdwn(payload.get("text", ""))
        )


def play_slack(
    engine: Engine, workspace: str, folder: Path, rep_email: str, console: Console
) -> None:
    """Serve the app against the stand-in and play gaps → plan → check-in for one rep."""
    with session_scope(engine) as session:
        rep = session.scalar(select(Person).where(Person.email == rep_email))
        assert rep is not None and rep.manager is not None
        manager_email, manager_name, rep_name = rep.manager.email, rep.manager.name, rep.name
        directory = {p.email: f"U{p.id:06d}" for p in session.scalars(select(Person))}
    out = folder / "slack"
    out.mkdir(parents=True, exist_ok=True)
    with SlackStandIn(directory) as slack:
        settings = Settings(
            SLACK_BOT_TOKEN="xoxb-demo",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack.url,
            DATABASE_URL=str(engine.url),
            COACH_WORKSPACE=workspace,
        )
        server = make_http_server(create_app(settings, engine), engine, "127.0.0.1", 0)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        try:
            player = _Player(f"http://127.0.0.1:{server.server_port}", slack, out, console)
            manager, rep_id = directory[manager_email], directory[rep_email]
            console.print(
                f"\n[bold]Playing Slack[/]: {manager_name} (manager) and {rep_name} (rep), "
                "the app on a local port, Slack stood in for locally.\n"
            )
            mention = f"<@{rep_id}|{rep_email.split('@')[0]}>"
            player.command(f"gaps {mention}", manager)
            [answer] = slack.wait_for("response_url", timeout=30)
            player.show(manager_name, "/coach gaps", answer.params)

            player.command(f"plan {mention}", manager)
            [update] = slack.wait_for("views.update", timeout=30)
            modal = _view(update.params["view"])
            player.show(manager_name, "plan modal", modal)
            month = json.loads(modal["private_metadata"])["month"]  # the manager's this month
            player.post(interaction_body(_submission(manager, modal, _plan_values(modal, month))))
            posts = slack.wait_for("chat.postMessage", count=2, timeout=30)
            player.show(manager_name, "plan DM", posts[0].params)
            player.show(rep_name, "plan DM", posts[1].params)

            player.command(f"checkin {mention}", manager)
            updates = slack.wait_for("views.update", count=2, timeout=30)
            modal = _view(updates[-1].params["view"])
            player.show(manager_name, "check-in modal", modal)
            values = _checkin_values(modal)
            published = len(slack.calls_to("views.publish"))
            player.post(interaction_body(_submission(manager, {**modal, "id": "VDEMO"}, values)))
            posts = slack.wait_for("chat.postMessage", count=3, timeout=30)
            player.show(manager_name, "check-in reply in the plan thread", posts[2].params)
            # A check-in republishes the homes of the rep and of their manager.
            homes = slack.wait_for("views.publish", count=published + 2, timeout=30)
            [*_, home] = [h for h in homes if h.params["user_id"] == rep_id]
            player.show(rep_name, "App Home", _view(home.params["view"]))

            replies = len(slack.calls_to("response_url"))
            player.command(f"archive {mention}", manager)
            [*_, archive] = slack.wait_for("response_url", count=replies + 1, timeout=30)
            player.show(manager_name, "/coach archive", archive.params)
            play_cadence(settings, engine, workspace, slack, player, rep_name, month)
        finally:
            server.shutdown()
            server.server_close()


def play_cadence(
    settings: Settings,
    engine: Engine,
    workspace: str,
    slack: SlackStandIn,
    player: _Player,
    rep_name: str,
    month: str,
) -> None:
    """Day one and day two of this coaching month, as `coach run … --month` sends them."""
    cadence = Cadence(
        Services(settings.model_copy(update={"coach_send_rate": 0}), engine), workspace
    )
    with session_scope(engine) as session:
        names = {f"U{p.id:06d}": p.name for p in session.scalars(select(Person))}
    console = player.console
    for job in ("day-one", "day-two"):
        before = len(slack.calls_to("chat.postMessage"))
        [run] = cadence.run(job, month=month)  # type: ignore[arg-type]
        console.print(f"\n[bold]coach run {job} --month {month}[/]: {run.line()}", highlight=False)
        calls = slack.calls_to("chat.postMessage")[before:]
        # Top-level DMs go to a user id; Slack answers with the DM channel replies then use.
        users = {
            c.response["channel"]: c.params["channel"]
            for c in calls
            if isinstance(c.response, dict) and c.params["channel"].startswith("U")
        }
        seen: set[str] = set()
        for call in calls:
            message = call.params
            kind = message["metadata"]["event_payload"]["key"].split(":")[0]
            shape = f"{kind} reply" if message.get("thread_ts") else kind
            if shape == "day-one reply" and not message["text"].startswith(rep_name):
                continue  # the reply about the rep played above stands for all of them
            if shape in seen and shape != "day-one":
                continue  # the rest look alike: every manager's thread opener is shown
            seen.add(shape)
            what = {"day-one": "day-one thread", "reflection": "invitation to reflect"}.get(
                kind, "day-two digest"
            )
            who = names.get(users.get(message["channel"], message["channel"]), "?")
            player.show(who, what + (" (a reply)" if message.get("thread_ts") else ""), message)
        replies = sum(1 for c in calls if c.params.get("thread_ts"))
        total = f"{len(calls)} message{'' if len(calls) == 1 else 's'} in all"
        if replies:
            total += f", {replies} of them thread replies (one per rep)"
        console.print(f"[dim]{total}; the ones not printed look alike.[/]")


def _view(view: Any) -> dict[str, Any]:
    return json.loads(view) if isinstance(view, str) else view


def _submission(user: str, modal: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "team": {"id": "T0C0ACH01"},
        "user": {"id": user},
        "api_app_id": "A0C0ACH01",
        "view": {
            "id": modal.get("id", "VDEMOPLAN"),
            "type": "modal",
            "callback_id": modal["callback_id"],
            "private_metadata": modal["private_metadata"],
            "state": {"values": values},
        },
    }


def _initial(modal: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in modal["blocks"] if b.get("block_id") == block_id)["element"]


def _plan_values(modal: dict[str, Any], month: str) -> dict[str, Any]:
    """What the manager and rep agree on: the prefilled plan, a why, and two check-ins."""
    first, _ = month_bounds(month)
    focus = _initial(modal, "focus").get("initial_options", [])[:2]
    values: dict[str, Any] = {
        "focus": {"value": {"selected_options": focus}},
        "why": {"value": {"value": "It is where the most deals are lost, and it is coachable."}},
        "how": {"value": {"value": _initial(modal, "how").get("initial_value", "Shadow a peer")}},
    }
    for i in (1, 2):
        values[f"target_{i}"] = {
            "value": {"value": _initial(modal, f"target_{i}").get("initial_value")}
        }
        values[f"checkin_{i}"] = {
            "value": {"selected_date": first.replace(day=8 + 14 * (i - 1)).isoformat()}
        }
    return values


def _checkin_values(modal: dict[str, Any]) -> dict[str, Any]:
    return {
        "date": {"value": {"selected_date": _initial(modal, "date")["initial_date"]}},
        "done": {"value": {"selected_options": [{"value": "0"}]}},
        "metric_value": {"value": {"value": _initial(modal, "metric_value").get("initial_value")}},
        "status": {"value": {"selected_option": {"value": "on_track"}}},
        "notes": {"value": {"value": "Recorded the first call; review booked for Thursday."}},
    }
