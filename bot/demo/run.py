"""`coach demo`: a realistic org, imported through the real import code, and everyone's gaps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from analytics.catalogue import load_catalogue
from analytics.simulate import demo_org
from bot.cli.terminal import gap_panel
from bot.coaching.gaps import load_gap_engine
from bot.coaching.months import coaching_month
from bot.demo.history import rep_to_show, script_history
from bot.demo.play import play_slack
from storage.csv_import import ORG_COLUMNS, import_metrics, import_org
from storage.db import make_engine, session_scope, upgrade

WORKSPACE = "demo"


def write_demo_csvs(folder: Path, people: pd.DataFrame, metrics: pd.DataFrame) -> tuple[Path, Path]:
    """Write the org chart and metrics the way a CRM export would look."""
    folder.mkdir(parents=True, exist_ok=True)
    org_path, metrics_path = folder / "org.csv", folder / "metrics.csv"
    org = people.reindex(columns=list(ORG_COLUMNS))
    org.to_csv(org_path, index=False)
    counts = metrics.rename(columns={"rep": "rep_email"})
    counts = counts[["month", "rep_email", *[c for c in counts if c not in ("month", "rep_email")]]]
    counts.to_csv(metrics_path, index=False, float_format="%.10g")
    return org_path, metrics_path


def run_demo(folder: Path, console: Console) -> None:
    """Build the demo org, import it into `folder/coach.db`, and print every rep's gaps."""
    people, metrics, planted = demo_org()
    org_path, metrics_path = write_demo_csvs(folder, people, metrics)
    db_path = folder / "coach.db"
    db_path.unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    upgrade(url)
    engine = make_engine(url)
    catalogue = load_catalogue()
    with session_scope(engine) as session:
        org_result = import_org(session, WORKSPACE, org_path)
        metric_result = import_metrics(session, WORKSPACE, metrics_path, catalogue)
    console.print(f"[bold]Demo org[/] written to {folder}/ and imported into {db_path}")
    console.print(f"  {org_path.name}: {org_result.summary()}", highlight=False)
    console.print(f"  {metrics_path.name}: {metric_result.summary()}", highlight=False)

    gap_engine = load_gap_engine(engine, WORKSPACE, catalogue)
    engine.dispose()
    reports = [r.model_dump(mode="json") for r in gap_engine.reports()]
    month = reports[0]["month"] if reports else "—"
    labels = {m.key: m.label for m in catalogue.metrics}

    summary = Table(title=f"Coaching focus for {month} (window {', '.join(reports[0]['window'])})")
    for column in (
        "rep",
        "segment",
        "focus (best first) or stretch",
        "planted weakness",
        "warnings",
    ):
        summary.add_column(column)
    for report in reports:
        segment = report["peer_group"]["segment"] or "—"
        focus = ", ".join(labels.get(k, k) for k in report["focus"])
        if not focus:  # no weakness: the stretch goal, told apart from a focus
            stretch = report.get("stretch")
            focus = (
                f"[cyan]stretch: {labels.get(stretch['key'], stretch['key'])}[/]"
                if stretch
                else "[green]none[/]"
            )
        truth = planted.get(report["rep"])
        summary.add_row(
            report["name"],
            segment,
            focus,
            labels.get(truth, truth) if truth else "",
            str(len(report["warnings"])) if report["warnings"] else "",
        )
    console.print(summary)
    for report in reports:
        console.print(gap_panel(report))
    script_history(make_engine(url), WORKSPACE, gap_engine, catalogue, console)
    focus_reps = [r["rep"] for r in reports if r["focus"] and r["rep"] in planted]
    shown = rep_to_show(make_engine(url), WORKSPACE, gap_engine, focus_reps, coaching_month())
    if shown is not None:
        play_slack(make_engine(url), WORKSPACE, folder, shown, console)
    console.print(
        f"\nTry it yourself:  DATABASE_URL=sqlite:///{db_path} COACH_WORKSPACE={WORKSPACE} "
        f".venv/bin/coach gaps {reports[0]['rep'] if reports else 'EMAIL'}",
        highlight=False,
        soft_wrap=True,
    )
