"""The `coach` command line: one entry point for people and operators."""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# Each command imports what it uses when it runs: `coach --help` and `coach gaps` start in a
# fraction of the time when they don't load settings validation, Bolt, pandas or the scheduler
# they don't need (tests/cli/test_fast_start.py checks).
if TYPE_CHECKING:
    from bot.settings import Settings

app = typer.Typer(
    help="coach: metrics-driven sales coaching in Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
import_app = typer.Typer(
    help="Load the org chart, monthly metrics and past plans from CSV.", no_args_is_help=True
)
export_app = typer.Typer(help="Export coaching data for sales ops.", no_args_is_help=True)
report_app = typer.Typer(help="Reports on the coaching.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(report_app, name="report")

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit with `code`."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings(logs: bool = False) -> Settings:
    """Load the settings or end the command with exit status 2; `logs` switches on the
    operators' log lines (servers and jobs)."""
    from bot.settings import ConfigError, load_settings

    try:
        config = load_settings()
    except ConfigError as exc:
        fail(str(exc), 2)
    if logs:
        from bot.logs import configure_logging

        configure_logging(config.coach_log_format, config.coach_log_level)
    return config


def workspace(config: Settings) -> str:
    """The workspace a data command works on (COACH_WORKSPACE); unset in multi-workspace mode,
    the command ends with exit status 2 before touching anything."""
    from bot.settings import ConfigError

    try:
        return config.workspace()
    except ConfigError as exc:
        fail(str(exc), 2)


@contextmanager
def open_database(config: Settings, migrate: bool = False) -> Iterator[object]:
    """An engine on DATABASE_URL, checked reachable and at the latest schema."""
    from storage.db import is_reachable, make_engine, schema_is_current, upgrade

    engine = make_engine(config.database_url)
    try:
        if not is_reachable(engine):
            fail(f"DATABASE_URL: cannot connect to {engine.url.render_as_string()}", 2)
        if migrate:
            if not schema_is_current(engine):
                upgrade(config.database_url)
        elif not schema_is_current(engine):
            fail("DATABASE_URL: the database schema is not up to date; run `coach db upgrade`", 2)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def progress_bar(label: str) -> Iterator[object]:
    """A progress callback that shows a bar only once a file takes more than a moment."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    task = bar.add_task(label, total=None, visible=False)
    with bar:

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, visible=total > 5_000)

        yield update


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the latest schema."""
    config = settings()
    with open_database(config, migrate=True) as engine:
        from storage.db import current_revision

        out.print(f"database at revision {current_revision(engine)}")  # type: ignore[arg-type]


def _run_import(kind: str, file: Path, migrate: bool) -> None:
    from storage.csv_import import CsvImportError, import_metrics, import_org, import_plans
    from storage.db import session_scope

    config = settings()
    ws = workspace(config)
    known = catalogue(config) if kind != "org" else None  # loaded first: fail early
    if not file.is_file():
        fail(f"{file}: no such file")
    with (
        open_database(config, migrate=migrate) as engine,
        progress_bar(f"{kind} {file.name}") as cb,
    ):
        figures = None
        if kind == "plans":
            from bot.coaching.gaps import load_gap_engine
            from bot.coaching.plans import history_figures

            gaps = load_gap_engine(engine, ws, known, config.gap_config())  # type: ignore[arg-type]
            figures = history_figures(gaps)
        try:
            with session_scope(engine) as session:  # type: ignore[arg-type]
                if known is None:
                    result = import_org(session, ws, file, progress=cb)
                elif figures is not None:
                    from bot.coaching.plans import metric_units

                    result = import_plans(session, ws, file, known, metric_units(known), figures)
                else:
                    result = import_metrics(
                        session, ws, file, known, cb, months_ahead=config.coach_months_ahead
                    )
        except CsvImportError as exc:
            err.print(f"[bold red]{escape(str(file))}: nothing imported[/]", highlight=False)
            err.print(str(exc), highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        out.print(result.summary(), highlight=False)
        if known is not None:
            _judge_after_import(engine, config, ws, kind, result.months)


def _judge_after_import(
    engine: object, config: Settings, ws: str, kind: str, months: list[str]
) -> None:
    """Judge the plans an import may have changed the verdicts of: those whose month the new
    numbers reach (metrics), the plans written (plans), and any plan not judged yet."""
    from bot.coaching.archive import months_to_judge, update_outcomes

    changed = months if kind == "metrics" else []
    plan_months = months_to_judge(
        engine,  # type: ignore[arg-type]
        ws,
        changed,
        config.coach_window_months,
    )
    if kind == "plans":
        plan_months = sorted({*plan_months, *months})
    judged = update_outcomes(
        engine,  # type: ignore[arg-type]
        ws,
        catalogue(config),
        config.gap_config(),
        plan_months,
    )
    if judged:
        on = " on the new numbers" if kind == "metrics" else ""
        out.print(f"judged {judged:,} plan focus metrics{on}")


@import_app.command("org")
def import_org_cmd(
    file: Annotated[Path, typer.Argument(help="Org chart CSV.")],
    migrate: Annotated[bool, typer.Option(help="Upgrade the database first.")] = False,
) -> None:
    """Import the org chart (email, name, role, manager_email, segment, …)."""
    _run_import("org", file, migrate)


@import_app.command("metrics")
def import_metrics_cmd(
    file: Annotated[Path, typer.Argument(help="Monthly funnel counts CSV.")],
    migrate: Annotated[bool, typer.Option(help="Upgrade the database first.")] = False,
) -> None:
    """Import monthly funnel counts, one row per rep and month."""
    _run_import("metrics", file, migrate)


@import_app.command("plans")
def import_plans_cmd(
    file: Annotated[Path, typer.Argument(help="Plan history CSV.")],
    migrate: Annotated[bool, typer.Option(help="Upgrade the database first.")] = False,
) -> None:
    """Import past coaching plans, one row per plan and focus metric; judged on import."""
    _run_import("plans", file, migrate)


@export_app.command("plans")
def export_plans(
    since: Annotated[str | None, typer.Option(help="The first month (YYYY-MM).")] = None,
    format: Annotated[str, typer.Option(help="csv or json (one object per line).")] = "csv",
) -> None:
    """Every plan, one row each, with its focus metrics' outcomes."""
    from bot.coaching.archive import export_rows
    from storage.db import session_scope

    if format not in ("csv", "json"):
        fail(f"--format {format!r}: choose csv or json")
    if since is not None and not _MONTH.match(since):
        fail(f"--since {since!r} is not a month (YYYY-MM)")
    config = settings()
    with open_database(config) as engine, session_scope(engine) as session:  # type: ignore[arg-type]
        rows = export_rows(session, workspace(config), since)
    focus_columns = [
        "metric",
        "baseline",
        "target",
        "peer_median_then",
        "value",
        "estimate",
        "peer_median_now",
        "verdict",
        "judged_from",
        "judged_to",
        "expectation",
        "material_line",
        "target_met",
        "p_better",
    ]
    header = [
        "month",
        "rep_email",
        "rep_name",
        "manager_email",
        "author_email",
        "outcome",
        "why",
        "actions",
        "checkins",
        "last_checkin_status",
    ]

    def cells(row: dict[str, Any]) -> list[object]:
        found = [row[c] if c != "actions" else " | ".join(row["actions"]) for c in header]
        for i in range(2):
            focus = row["focus"][i] if i < len(row["focus"]) else {}
            found += [focus.get(c) for c in focus_columns]
        return found

    write_export(
        rows, format, header + [f"focus{i}_{c}" for i in (1, 2) for c in focus_columns], cells
    )


def write_export(
    rows: list[dict[str, Any]],
    format: str,
    header: list[str],
    cells: Callable[[dict[str, Any]], list[object]],
) -> None:
    """An export on stdout: JSON, one object per line, exactly as stored; or CSV, `header` and
    then `cells(row)` for each row, every cell safe to open in a spreadsheet."""
    import csv

    if format == "json":
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_cell(cell) for cell in cells(row)])


@export_app.command("pips")
def export_pips(
    since: Annotated[
        str | None, typer.Option(help="PIPs started on or after this day (YYYY-MM-DD or YYYY-MM).")
    ] = None,
    format: Annotated[str, typer.Option(help="csv or json (one object per line).")] = "csv",
) -> None:
    """Every performance improvement plan, one row each, with its verdicts and trail (for HR)."""
    from datetime import date

    from bot.coaching.pips import MAX_GOALS, MAX_TRACKING, export_rows
    from storage.db import session_scope

    if format not in ("csv", "json"):
        fail(f"--format {format!r}: choose csv or json")
    first = None
    if since is not None:
        try:
            first = date.fromisoformat(since + "-01" if _MONTH.match(since) else since)
        except ValueError:
            fail(f"--since {since!r} is not a day (YYYY-MM-DD) or a month (YYYY-MM)")
    config = settings()
    with open_database(config) as engine, session_scope(engine) as session:  # type: ignore[arg-type]
        rows = export_rows(session, workspace(config), first)
    goal_columns = ["metric", "baseline", "target", "deadline", "value", "verdict"]
    header = [
        "rep_email",
        "rep_name",
        "manager_email",
        "author_email",
        "start",
        "end",
        "status",
        "outcome",
        "rhythm_days",
        "discussed_before",
        "acknowledged_at",
        "commitments",
        "checkins",
        "commitments_kept",
        "commitments_missed",
    ]

    def cells(row: dict[str, Any]) -> list[object]:
        found = [row[c] if c != "commitments" else " | ".join(row[c]) for c in header]
        for i in range(MAX_GOALS):
            goal = row["goals"][i] if i < len(row["goals"]) else {}
            found += [goal.get(c) for c in goal_columns]
        for i in range(MAX_TRACKING):
            track = row["tracking"][i] if i < len(row["tracking"]) else {}
            found += [track.get("metric"), track.get("weekly_level")]
        trail = [f"{e['at']} {e['who'] or ''} {e['action']}" for e in row["trail"]]
        return [*found, "\n".join(trail)]

    goal_header = [f"goal{i}_{c}" for i in range(1, MAX_GOALS + 1) for c in goal_columns]
    track_header = [
        f"tracking{i}_{c}" for i in range(1, MAX_TRACKING + 1) for c in ("metric", "weekly_level")
    ]
    write_export(rows, format, [*header, *goal_header, *track_header, "trail"], cells)


# What makes a spreadsheet read a cell as a formula (OWASP's list, and the full-width forms some
# spreadsheets also honour), once it skips leading blanks and control characters.
_FORMULA_LEADS = frozenset("=+-@＝＋－＠")


def spreadsheet_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as typed, never runs as a formula.

    Every line break (CR, CRLF and Unicode's others) becomes LF, so that the csv module quotes
    the cell — it leaves a bare CR unquoted, and spreadsheets start a new row there. Quoting
    alone isn't trusted either (some importers still break rows at a line break inside quotes):
    each line that starts with a formula lead, after blanks or control characters, or with a
    control character at all, gets a leading `'` — the mark spreadsheets read as "text".
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    return "\n".join("'" + line if _formula_like(line) else line for line in value.splitlines())


def _formula_like(line: str) -> bool:
    """A line a spreadsheet may run: it starts with a tab, CR or other invisible character, or
    its first visible character is a formula lead."""
    if line[:1] and not line[:1].isprintable():  # Python's "printable" includes only ASCII space
        return True
    visible = next((c for c in line if c.isprintable() and not c.isspace()), "")
    return visible in _FORMULA_LEADS


@report_app.command("roi")
def report_roi(
    since: Annotated[str | None, typer.Option(help="The first plan month (YYYY-MM).")] = None,
    until: Annotated[str | None, typer.Option(help="The last month (YYYY-MM).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON (one object).")] = False,
) -> None:
    """Did coaching work? The lift on coached metrics over what was expected without it."""
    from bot.cli.terminal import roi_table
    from bot.coaching.roi import coaching_runs

    for name, value in (("--since", since), ("--until", until)):
        if value is not None and not _MONTH.match(value):
            fail(f"{name} {value!r} is not a month (YYYY-MM)")
    if since and until and since > until:
        fail(f"--since {since} is after --until {until}")
    config = settings()
    ws = workspace(config)
    cat = catalogue(config)
    with open_database(config) as engine:
        runs = coaching_runs(engine, ws, cat, config.gap_config(), since, until)  # type: ignore[arg-type]
    roi = runs.roi()
    if as_json:
        typer.echo(json.dumps(roi.as_json(), indent=2))
    else:
        out.print(roi_table(roi, {m.key: m.label for m in cat.metrics}))


@app.command()
def judge(
    month: Annotated[str | None, typer.Option(help="Only this month's plans (YYYY-MM).")] = None,
) -> None:
    """Judge plans on the numbers imported so far (an import does this by itself)."""
    from bot.coaching.archive import update_outcomes

    if month is not None and not _MONTH.match(month):
        fail(f"--month {month!r} is not a month (YYYY-MM)")
    config = settings()
    with open_database(config) as engine:
        judged = update_outcomes(
            engine,  # type: ignore[arg-type]
            workspace(config),
            catalogue(config),
            config.gap_config(),
            [month] if month else None,
        )
    out.print(f"judged {judged:,} plan focus metrics")


@app.command("sync")
def sync_cmd(
    source: Annotated[str, typer.Argument(help="The CRM: hubspot or salesforce.")],
    full: Annotated[
        bool, typer.Option("--full", help="Fetch everything again, not only what changed.")
    ] = False,
    switch: Annotated[
        bool,
        typer.Option(
            "--switch",
            help="Move the workspace's counts to this CRM when they come from another one.",
        ),
    ] = False,
) -> None:
    """Pull owners, deals with their stage history and activities from a CRM, then derive the
    monthly counts; a failed sync says why in one line and leaves the last good counts."""
    from bot.crm.sync import CONNECTORS, sync_source
    from storage.crm import CrmStore

    if source not in CONNECTORS:
        fail(f"unknown CRM {source!r}: choose {', '.join(sorted(CONNECTORS))}", 2)
    config = settings(logs=False)
    ws = workspace(config)
    with open_database(config) as engine:
        result = sync_source(config, engine, ws, source, full=full, switch=switch)  # type: ignore[arg-type]
        if result.error is not None and result.error.kind == "config":
            fail(result.error.line, 2)
        run = CrmStore(engine, ws).last_run(source)  # type: ignore[arg-type]
    if run is not None:
        for problem in run.problems:
            err.print(problem, highlight=False, markup=False, soft_wrap=True)
        if run.problem_count > len(run.problems):
            err.print(f"… and {run.problem_count - len(run.problems):,} more (coach doctor)")
    if not result.ok:
        fail(result.line())
    out.print(result.line(), highlight=False, markup=False, soft_wrap=True)


@app.command()
def doctor(
    lookups: Annotated[
        int, typer.Option(help="People without a Slack id to look up by email.")
    ] = 50,
) -> None:
    """Check configuration, database, the Slack token's scopes and the org chart's people."""
    from bot.cli.doctor import run_checks
    from storage.db import make_engine

    config = settings()
    engine = make_engine(config.database_url)
    problems = 0
    try:
        for check in run_checks(config, engine, lookups=lookups):
            mark = "[green]✓[/]" if check.ok else "[bold red]✗[/]"
            line = f"{mark} {check.name}: {escape(check.detail)}"
            out.print(line, highlight=False, soft_wrap=True)
            if not check.ok:
                problems += 1
                out.print(f"    fix: {escape(check.fix)}", highlight=False)
    finally:
        engine.dispose()
    out.print("all good" if not problems else f"{problems} thing(s) to fix", highlight=False)
    if problems:
        raise typer.Exit(1)


@app.command("workspaces")
def workspaces_cmd() -> None:
    """List the workspaces coach serves: their ids (COACH_WORKSPACE), names and people."""
    from sqlalchemy import func, select

    from bot.slack.installs import installed_workspaces
    from storage.models import Person

    config = settings()
    with open_database(config) as engine:
        served = installed_workspaces(config, engine)  # type: ignore[arg-type]
        with engine.connect() as conn:  # type: ignore[attr-defined]
            people = dict(
                conn.execute(  # type: ignore[arg-type]
                    select(Person.workspace_id, func.count())
                    .where(Person.active.is_(True))
                    .group_by(Person.workspace_id)
                ).all()
            )
    if not served:
        out.print("no workspace has installed coach yet: open https://YOUR-HOST/slack/install")
        return
    for w in served:
        since = f", installed {w.installed_at:%Y-%m-%d}" if w.installed_at else ""
        name = f" {w.name}" if w.name else ""
        out.print(
            escape(f"{w.id}{name}: {people.get(w.id, 0):,} active people{since}"), highlight=False
        )


@app.command()
def forget(
    email: Annotated[str, typer.Argument(help="The person's email.")],
    yes: Annotated[bool, typer.Option("--yes", help="Don't ask for confirmation.")] = False,
) -> None:
    """Delete a person's personal data (plans, PIPs, check-ins, reflections, metrics) on
    request."""
    from storage.db import session_scope
    from storage.forget import forget_person

    config = settings()
    ws = workspace(config)
    if not yes and not typer.confirm(
        f"Delete every plan, PIP, check-in, reflection and metric of {email} for good?"
    ):
        fail("nothing deleted")
    with open_database(config) as engine, session_scope(engine) as session:  # type: ignore[arg-type]
        counts = forget_person(session, ws, email)
    if counts is None:
        fail(f"{email}: nobody in the org chart has that email; nothing deleted")
    done = ", ".join(f"{n:,} {what}" for what, n in counts.items())
    out.print(f"forgot {email}: deleted {done}; the org chart keeps an anonymous row", markup=False)


def catalogue(config: Settings):  # type: ignore[no-untyped-def]
    """The metric catalogue, from COACH_METRICS_FILE when set; a broken file exits 2."""
    from analytics.catalogue import CatalogueError, load_catalogue

    try:
        return load_catalogue(config.coach_metrics_file)
    except CatalogueError as exc:
        fail(f"COACH_METRICS_FILE: {exc}", 2)


@app.command()
def gaps(
    email: Annotated[str | None, typer.Argument(help="The rep's email.")] = None,
    month: Annotated[
        str | None, typer.Option(help="YYYY-MM; default: the latest full month with data.")
    ] = None,
    all_reps: Annotated[bool, typer.Option("--all", help="Every active rep.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON (one object per line).")] = False,
) -> None:
    """A rep's peer-relative gaps: where they fall behind their peers, credibly."""
    from analytics.gaps import GapError
    from bot.cli.terminal import gap_panel
    from bot.coaching.gaps import load_gap_engine

    if all_reps == (email is not None):
        fail("give either a rep's EMAIL or --all")
    if all_reps and not as_json:
        fail("--all prints JSON lines: add --json")
    config = settings()
    cat = catalogue(config)
    with open_database(config) as engine:
        gap_engine = load_gap_engine(
            engine,  # type: ignore[arg-type]
            workspace(config),
            cat,
            config.gap_config(),
        )
    try:
        if all_reps:
            for report in gap_engine.reports(month):
                typer.echo(report.model_dump_json())
            return
        report = gap_engine.report(email, month)  # type: ignore[arg-type]
    except GapError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        out.print(gap_panel(report.model_dump(mode="json")))


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "0.0.0.0",
    socket: Annotated[
        bool, typer.Option("--socket", help="Socket Mode (SLACK_APP_TOKEN).")
    ] = False,
    scheduler: Annotated[
        bool, typer.Option(help="Run the monthly cadence's scheduler in this process.")
    ] = True,
) -> None:
    """Run the Slack app: HTTP on /slack/events (and /healthz), or Socket Mode."""
    from bot.cadence.scheduler import cadence_scheduler
    from bot.slack.app import create_app

    config = settings(logs=True)
    config.require("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    if socket:
        config.require("SLACK_APP_TOKEN")
        if config.multi_workspace:
            fail("--socket serves one workspace: installs into many need HTTP mode", 2)
    with open_database(config, migrate=True) as engine:
        cadence = _cadence(config, engine)
        bolt = create_app(config, engine, services=cadence.services)  # type: ignore[arg-type]
        warmed = _warm(config, cadence.services, engine)
        ticker = cadence_scheduler(
            cadence, config.coach_tick_seconds, blocking=False, also=_daily_jobs(config, engine)
        )
        if scheduler:
            ticker.start()
        try:
            if socket:
                from slack_bolt.adapter.socket_mode import SocketModeHandler

                out.print("coach: connected in Socket Mode")
                # slack-sdk calls a socket stale after four missed pings: every 3 s, a socket
                # cut without a close frame is replaced in ~15 s instead of the default ~60 s.
                SocketModeHandler(bolt, config.slack_app_token, ping_interval=3).start()
                return
            from bot.slack.server import make_http_server

            server = make_http_server(bolt, engine, host, port, ready=warmed.is_set)  # type: ignore[arg-type]
            out.print(f"coach: listening on http://{host}:{server.server_port}/slack/events")
            try:
                server.serve_forever()
            except KeyboardInterrupt:
                server.shutdown()
        finally:
            if ticker.running:
                ticker.shutdown(wait=False)


def _warm(config: Settings, services: object, engine: object) -> threading.Event:
    """Load every served workspace's gap engine in the background; the event is set when done
    (until then /healthz answers 503, so a load balancer sends no traffic to a cold replica)."""
    import logging

    from bot.slack.installs import installed_workspaces

    done = threading.Event()

    def warm() -> None:
        log = logging.getLogger("bot.cli.main")
        try:
            for workspace in installed_workspaces(config, engine):  # type: ignore[arg-type]
                try:
                    services.warm(workspace.id)  # type: ignore[attr-defined]
                except Exception:  # a cold engine still loads on its first request
                    log.exception("warming the gap engine of %s failed", workspace.id)
        except Exception:
            log.exception("listing the workspaces to warm failed")
        finally:
            done.set()

    threading.Thread(target=warm, name="warm-up", daemon=True).start()
    return done


def _cadence(config: Settings, engine: object, only_set: bool = False):  # type: ignore[no-untyped-def]
    """The cadence of every workspace served (or only COACH_WORKSPACE, when set and
    `only_set`), with the app's services (warm gap engines)."""
    from bot.cadence.workspaces import EveryWorkspace
    from bot.coaching.services import Services

    services = Services(config, engine, catalogue(config))  # type: ignore[arg-type]
    return EveryWorkspace(services, engine, only_set=only_set)  # type: ignore[arg-type]


def _daily_jobs(config: Settings, engine: object) -> dict[str, object]:
    """The scheduler's jobs besides the cadence: the daily CRM sync when COACH_SYNC_TIME is set."""
    if config.coach_sync_time is None:
        return {}
    from bot.crm.daily import DailySync

    return {"crm-sync": DailySync(config, engine)}  # type: ignore[arg-type]


@app.command("scheduler")
def scheduler_cmd() -> None:
    """Run only the cadence's scheduler (for deployments that keep it apart from `serve`)."""
    from bot.cadence.scheduler import cadence_scheduler

    config = settings(logs=True)
    config.require("SLACK_BOT_TOKEN")
    with open_database(config) as engine:
        out.print(f"coach: cadence scheduler ticking every {config.coach_tick_seconds} s")
        ticker = cadence_scheduler(
            _cadence(config, engine),
            config.coach_tick_seconds,
            blocking=True,
            also=_daily_jobs(config, engine),
        )
        with suppress(KeyboardInterrupt):
            ticker.start()


_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# Jobs whose period is a day, not a month.
DAY_JOBS = ("daily", "pips", "one-on-one")


@app.command("run")
def run_cmd(
    job: Annotated[
        str,
        typer.Argument(help="day-one, day-two, reminder, escalation, daily, pips or one-on-one."),
    ],
    month: Annotated[
        str | None, typer.Option(help="The coaching month (YYYY-MM) to send now, to everyone.")
    ] = None,
    day: Annotated[
        str | None,
        typer.Option(help="daily, pips and one-on-one only: the day (YYYY-MM-DD)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send and record nothing.")
    ] = False,
) -> None:
    """Run a cadence job by hand: what is due now in each person's time, or all of --month."""
    from datetime import date

    from bot.cadence.jobs import JOBS

    if job not in JOBS:
        fail(f"unknown job {job!r}: choose {', '.join(JOBS)}")
    if job in DAY_JOBS:
        if month is not None:
            fail(f"{job} takes --day YYYY-MM-DD, not --month")
        if day is not None:
            try:
                date.fromisoformat(day)
            except ValueError:
                fail(f"--day {day!r} is not a date (YYYY-MM-DD)")
        period = day
    else:
        if day is not None:
            fail(f"{job} takes --month YYYY-MM, not --day")
        if month is not None and not _MONTH.match(month):
            fail(f"--month {month!r} is not a month (YYYY-MM)")
        period = month
    config = settings(logs=True)
    if not dry_run:
        config.require("SLACK_BOT_TOKEN")
    with open_database(config) as engine:
        every = _cadence(config, engine, only_set=True)
        cadences = every.cadences()
        if not cadences:
            fail("no workspace to send to: none has installed coach yet (see `coach workspaces`)")
        if job == "daily" and not any(_daily_channel(c) for c in cadences):
            fail(
                "no daily channel: set COACH_DAILY_CHANNEL, or a workspace's channel in App Home "
                "(Workspace settings)",
                2,
            )
        if dry_run:
            for cadence in cadences:
                runs = cadence.plan(job, month=period)  # type: ignore[arg-type]
                _dry_run(cadence, runs)
                if not runs:
                    out.print(_nothing(job, period, "see"))
            return
        runs = every.run(job, month=period)  # type: ignore[arg-type]
    if not runs:
        out.print(f"{job}: {_nothing(job, period, 'send')}")
    failed = 0
    for ws, run in runs:
        for problem in run.summary.problems:
            err.print(problem, highlight=False, markup=False)
        prefix = f"{ws}: " if config.multi_workspace else ""
        out.print(prefix + run.line(), highlight=False)
        failed += run.summary.failed
    if failed:
        raise typer.Exit(1)


def _nothing(job: str, period: str | None, verb: str) -> str:
    """What a run that found nothing to send says: for the period asked, or for now."""
    if period is not None:
        return f"nothing to {verb} for {period}"
    return f"nothing is due now (give {_period_hint(job, verb)})"


def _daily_channel(cadence) -> str | None:  # type: ignore[no-untyped-def]
    """The daily post's channel in a cadence's workspace (its own setting, else the default)."""
    cadence.refresh()
    return cadence.settings.coach_daily_channel


def _period_hint(job: str, verb: str) -> str:
    """How to run `job` for a period of one's choosing: daily, pips and 1:1s take a day."""
    if job in DAY_JOBS:
        return f"--day YYYY-MM-DD to {verb} a day"
    return f"--month YYYY-MM to {verb} a month"


def _dry_run(cadence, runs) -> None:  # type: ignore[no-untyped-def]
    from bot.cli.terminal import render_blocks

    for run in runs:
        sent = cadence.already_sent(run)
        would = 0
        for batch in run.batches:
            out.print(f"[bold]→ {escape(batch.who)}[/]", highlight=False)
            for message in batch.messages:
                state = "already sent" if message.key in sent else "would send"
                would += message.key not in sent
                indent = "    " if message.threaded else "  "
                out.print(f"{indent}[dim]{escape(message.key)} ({state})[/]", highlight=False)
                out.print(render_blocks(message.blocks), highlight=False)
        out.print(
            f"{run.job} {run.period} (dry run): {would} would be sent, "
            f"{len(sent) + run.settled['sent']} already sent, {run.settled['skipped']} skipped "
            "earlier; nothing sent or recorded",
            highlight=False,
        )


def add_plugin_commands() -> None:
    """Commands other packages add through the `coach.commands` entry point (`coach demo`):
    the command line names no such package, so the running bot never imports the demo."""
    for entry in entry_points(group="coach.commands"):
        entry.load()(app)


add_plugin_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except Exception as exc:
        from bot.settings import ConfigError

        if not isinstance(exc, ConfigError):
            raise
        # raised outside a command's own handling, e.g. by require()
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
