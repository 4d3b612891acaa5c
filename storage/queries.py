"""Read models out of the database in the shapes the analytics engine takes."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, aliased

from storage.csv_org import ORG_COLUMNS
from storage.models import MetricValue, PartialMonth, Person

# The org chart as imported, and whether the person is still in it.
PEOPLE_COLUMNS = [*ORG_COLUMNS, "active"]


def people_frame(session: Session, workspace_id: str) -> pd.DataFrame:
    """The workspace's org chart: one row per person, active or not."""
    manager = aliased(Person)
    rows = session.execute(
        select(
            Person.email,
            Person.name,
            Person.role,
            manager.email,
            Person.segment,
            Person.discipline,
            Person.slack_user_id,
            Person.timezone,
            Person.start_date,
            Person.country,
            Person.active,
        )
        .outerjoin(manager, Person.manager_id == manager.id)
        .where(Person.workspace_id == workspace_id)
        .order_by(Person.email)
    ).all()
    frame = pd.DataFrame(rows, columns=PEOPLE_COLUMNS)
    frame["active"] = frame["active"].astype(bool)
    return frame


def metrics_frame(engine: Engine, workspace_id: str) -> pd.DataFrame:
    """Monthly counts, wide: `rep` (email), `month` (YYYY-MM), then one float column per count,
    and `through`: the last day a month-to-date row covers (a date), None for a full month."""
    query = (
        select(Person.email.label("rep"), MetricValue.month, MetricValue.name, MetricValue.value)
        .join(Person, Person.id == MetricValue.person_id)
        .where(MetricValue.workspace_id == workspace_id)
    )
    partial = (
        select(Person.email.label("rep"), PartialMonth.month, PartialMonth.through)
        .join(Person, Person.id == PartialMonth.person_id)
        .where(PartialMonth.workspace_id == workspace_id)
    )
    with engine.connect() as conn:
        long = pd.read_sql(query, conn)
        marks = conn.execute(partial).all()
    if long.empty:
        return pd.DataFrame(columns=["rep", "month", "through"])
    wide = long.pivot(index=["rep", "month"], columns="name", values="value")
    wide.columns.name = None
    wide = wide.reset_index().sort_values(["rep", "month"], ignore_index=True)
    through = {(rep, month): day for rep, month, day in marks}
    wide["through"] = [through.get(key) for key in zip(wide["rep"], wide["month"], strict=True)]
    return wide
