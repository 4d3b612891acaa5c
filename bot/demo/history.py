"""`coach demo`, the archive: three months of past plans for the demo org, judged like any import.

The reps with a planted weakness were coached on it for three months (it mostly persists: the
archive calls that out); a few others closed those same gaps, so every gap summary can say what
has worked and who to talk to.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from analytics.catalogue import Catalogue
from analytics.gaps import GapEngine, GapError
from analytics.models import GapConfig
from bot.coaching.archive import update_outcomes
from bot.coaching.months import shift_month
from storage.db import session_scope
from storage.models import Person, PlanOutcome
from storage.plans import FocusInput, save_plan


def script_history(
    db: Engine,
    workspace: str,
    gaps: GapEngine,
    catalogue: Catalogue,
    planted: dict[str, str],
    console: Console,
) -> None:
    """Write the past plans, judge them, and print how they ended."""
    latest = gaps.latest_month()
    months = [shift_month(latest, -i) for i in (2, 1, 0)]
    metrics = {m.key: m for m in catalogue.metrics}
    with session_scope(db) as session:
        people = {
            p.email: p
            for p in session.scalars(select(Person).where(Person.workspace_id == workspace))
        }

        def plan(email: str, month: str, key: str, target_of: float, actions: list[str]) -> None:
            try:
                before = gaps.report(email, shift_month(month, -1))
            except GapError:
                return
            metric = next((m for m in before.metrics if m.key == key), None)
            if metric is None or metric.value is None or metric.peer_median is None:
                return
            rep = people[email]
            save_plan(
                session,
                workspace_id=workspace,
                rep_id=rep.id,
                author_id=rep.manager_id or rep.id,
                month=month,
                focus=[
                    FocusInput(
                        key, metric.value, metric.peer_median, target_of * metric.peer_median
                    )
                ],
                why=f"{metric.label} is where {rep.name.split()[0]} falls furthest behind peers.",
                actions=actions,
                checkin_dates=[
                    date.fromisoformat(f"{month}-10"),
                    date.fromisoformat(f"{month}-24"),
                ],
            )

        for email, key in planted.items():
            for month in months:
                plan(email, month, key, 1.0, metrics[key].suggestions[:2])
        others = [e for e, p in people.items() if p.role == "rep" and e not in planted]
        for i, key in enumerate(sorted(set(planted.values()))):
            for email in others[2 * i : 2 * i + 2]:  # two peers closed each gap last month
                plan(email, months[1], key, 0.0, metrics[key].suggestions[:1])
    judged = update_outcomes(db, workspace, catalogue, GapConfig(), months)
    with session_scope(db) as session:
        verdicts = Counter(session.scalars(select(PlanOutcome.verdict)))
    table = Table(title=f"The archive: {judged} past plans judged", caption=", ".join(months))
    for column in ("verdict", "plans"):
        table.add_column(column)
    for verdict, count in verdicts.most_common():
        table.add_row(verdict, str(count))
    console.print(table)
