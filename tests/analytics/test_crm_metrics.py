"""Counts and hygiene derived from CRM records, against figures worked out by hand.

The org: Ann (o1) and Bob (o2) sell; Zed (o3) has no email. Every timestamp is 09:00 UTC.
- D1 Acme $1,000 (Ann): appointment 09-05, presentation 09-20, contract 10-03, won 10-10.
- D2 Beta $500: appointment 09-05→ Ann 09-10; handed to Bob 10-14, won by him 10-15, skipping
  every stage between: Bob's demo and win, inherited (Ann held it 34 of its 35 days).
- D3 Gamma $2,000 (Ann): created 10-01 at "qualified to buy" (so it passed the appointment),
  lost 10-20 though it was expected to close 12-31.
- D6 Open $3,000 (Ann): created 10-02 at presentation, expected to close 11-15; touched by a
  call 10-03, meetings 10-05 and 10-12 (held) and 10-13 (cancelled).
- D4 "Test deal", D5 at $0: out. D7 in stage "weird": out, one problem. D8 is Zed's: out.
Calls: Ann 10-03 (connected, on D6), Ann 10-04 (no answer); Bob 09-15 (connected).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.crm_mapping import Hygiene, load_mapping
from analytics.crm_metrics import FILLED_COLUMNS, CrmFrames, deal_flags, derive

CONNECTED = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
NO_ANSWER = "73a0d17f-1163-4015-bdd5-ec830791da20"
MAPPING = load_mapping().hubspot
HYGIENE = Hygiene(untouched_days=14, stuck_days=20)


def t(day: str) -> pd.Timestamp:
    return pd.Timestamp(f"2026-{day} 09:00", tz="UTC")


def deal(crm_id, name, amount, owner, stage, created, close_date=None, closed=None):  # type: ignore[no-untyped-def]
    return {
        "crm_id": crm_id,
        "name": name,
        "owner_crm_id": owner,
        "pipeline": "default",
        "stage": stage,
        "amount": amount,
        "created_at": t(created),
        "closed_at": None if closed is None else t(closed),
        "close_date": close_date,
        "url": f"https://app.hubspot.com/contacts/1/deal/{crm_id}",
    }


def frames() -> CrmFrames:
    deals = pd.DataFrame(
        [
            deal("D1", "Acme", 1000.0, "o1", "closedwon", "09-05", closed="10-10"),
            deal("D2", "Beta", 500.0, "o2", "closedwon", "09-10", closed="10-15"),
            deal("D3", "Gamma", 2000.0, "o1", "closedlost", "10-01", date(2026, 12, 31), "10-20"),
            deal("D4", "Test deal", 100.0, "o1", "appointmentscheduled", "10-01"),
            deal("D5", "Zero", 0.0, "o1", "appointmentscheduled", "10-01"),
            deal("D6", "Open", 3000.0, "o1", "presentationscheduled", "10-02", date(2026, 11, 15)),
            deal("D7", "Mystery", 100.0, "o1", "weird", "10-01"),
            deal("D8", "Zed's", 100.0, "o3", "appointmentscheduled", "10-05"),
        ]
    )
    stages = pd.DataFrame(
        [
            ("D1", "appointmentscheduled", t("09-05")),
            ("D1", "presentationscheduled", t("09-20")),
            ("D1", "contractsent", t("10-03")),
            ("D1", "closedwon", t("10-10")),
            ("D2", "appointmentscheduled", t("09-10")),
            ("D2", "closedwon", t("10-15")),
            ("D3", "qualifiedtobuy", t("10-01")),
            ("D3", "closedlost", t("10-20")),
            ("D6", "presentationscheduled", t("10-02")),
            ("D7", "weird", t("10-01")),
        ],
        columns=["deal_crm_id", "stage", "entered_at"],
    )
    owners_changes = pd.DataFrame(
        [("D2", "o1", t("09-10")), ("D2", "o2", t("10-14"))],
        columns=["deal_crm_id", "owner_crm_id", "changed_at"],
    )
    activities = pd.DataFrame(
        [
            ("c1", "call", "o1", t("10-03"), CONNECTED),
            ("c2", "call", "o1", t("10-04"), NO_ANSWER),
            ("m1", "meeting", "o1", t("10-05"), "COMPLETED"),
            ("m2", "meeting", "o1", t("10-12"), "COMPLETED"),
            ("m3", "meeting", "o1", t("10-13"), "CANCELED"),
            ("c3", "call", "o2", t("09-15"), CONNECTED),
        ],
        columns=["crm_id", "kind", "owner_crm_id", "occurred_at", "outcome"],
    )
    links = pd.DataFrame(
        [("c1", "D6"), ("m1", "D6"), ("m2", "D6"), ("m3", "D6")],
        columns=["activity_crm_id", "deal_crm_id"],
    )
    owners = pd.DataFrame(
        [
            ("o1", "Ann@Example.com", "Ann", True),
            ("o2", "bob@example.com", "Bob", True),
            ("o3", None, "Zed", True),
        ],
        columns=["crm_id", "email", "name", "active"],
    )
    return CrmFrames(deals, stages, owners_changes, activities, links, owners)


QUOTAS = pd.DataFrame(
    [("ann@example.com", m, 5000.0) for m in ("2026-10", "2026-11", "2026-12")],
    columns=["email", "month", "value"],
)

# No record is a zero: every count a rep has none of, from their first month with a record.
ZERO = dict.fromkeys(FILLED_COLUMNS, 0)
EXPECTED = {
    ("ann@example.com", "2026-09"): ZERO
    | {
        "discovery_calls": 2,  # D1, D2
        "demos": 1,  # D1
        "opportunities_worked": 2,
        "deals_advanced": 1,  # D1 to presentation
        "new_pipeline": 1500,
        "open_deals": 2,  # at 10-01 00:00: D1, D2
        "open_age_days": 25 + 20,
        "untouched_deals": 2,  # neither touched since created
        "stuck_deals": 1,  # D2: 20.6 days at its first stage, over the 20 days allowed
        "pipeline_this_quarter": 0,
    },
    ("ann@example.com", "2026-10"): ZERO
    | {
        "discovery_calls": 2,  # D3 (created past it), D6
        "demos": 1,  # D6
        "wins": 1,
        "revenue": 1000,
        "cycle_days": 35,  # 09-05 to 10-10
        "losses": 1,  # D3, dated 10-20, not 12-31
        "leads_prospected": 2,
        "connects": 1,
        "initial_meetings": 1,
        "follow_up_meetings": 1,  # the cancelled one doesn't count
        "opportunities_worked": 3,  # D1, D3, D6
        "deals_advanced": 1,  # D1
        "new_pipeline": 5000,
        "open_deals": 1,  # D6 at 11-01 00:00
        "open_age_days": 29,
        "untouched_deals": 1,  # last touch 10-13: 18.6 days
        "stuck_deals": 1,  # 29.6 days in presentation
        "median_days_between_touches": 2.0,  # gaps 2, 7, 1
        "touch_medians": 1,
        "pipeline_this_quarter": 3000,
        "quota_remaining": 15000 - 1000,
    },
    ("bob@example.com", "2026-09"): ZERO | {"leads_prospected": 1, "connects": 1},
    ("bob@example.com", "2026-10"): ZERO
    | {
        "demos": 1,
        "wins": 1,
        "revenue": 500,
        "cycle_days": 35,
        "inherited_wins": 1,
        "inherited_revenue": 500,
        "opportunities_worked": 1,
        "deals_advanced": 1,
    },
}


def as_dict(values: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    out: dict[tuple[str, str], dict[str, float]] = {}
    for email, month, name, value in values.itertuples(index=False):
        out.setdefault((email, month), {})[name] = value
    return out


def test_counts_and_hygiene_equal_the_hand_computation() -> None:
    derived = derive(frames(), MAPPING, HYGIENE, date(2026, 10, 31), quotas=QUOTAS)
    assert as_dict(derived.values) == EXPECTED
    assert derived.months == ["2026-09", "2026-10"]
    assert derived.problems == [
        "owner o3 (Zed) has no email: their deals and activities are left out",
        "stage 'weird' is not in the mapping: 1 deal entered it (add it to the mapping file's stages)",
    ]


def test_month_to_date_stops_at_today() -> None:
    derived = derive(frames(), MAPPING, HYGIENE, date(2026, 10, 12), quotas=QUOTAS)
    october = as_dict(derived.values)[("ann@example.com", "2026-10")]
    # By the end of 10-12: D1 won 10-10; D3 not lost yet; the 10-12 meeting is in.
    assert (october["wins"], october["losses"]) == (1, 0)
    assert (october["initial_meetings"], october["follow_up_meetings"]) == (1, 1)
    assert october["open_deals"] == 3  # D2 (still hers), D3 and D6 at 10-13 00:00


def test_months_follow_the_workspace_time_zone() -> None:
    base = frames()
    late = base.activities.copy()
    late.loc[late["crm_id"] == "c3", "occurred_at"] = pd.Timestamp("2026-09-30 23:30", tz="UTC")
    moved = CrmFrames(
        base.deals, base.stage_changes, base.owner_changes, late, base.links, base.owners
    )
    from zoneinfo import ZoneInfo

    utc = as_dict(derive(moved, MAPPING, HYGIENE, date(2026, 10, 31)).values)
    berlin = as_dict(
        derive(moved, MAPPING, HYGIENE, date(2026, 10, 31), ZoneInfo("Europe/Berlin")).values
    )
    assert utc[("bob@example.com", "2026-09")]["connects"] == 1
    assert berlin[("bob@example.com", "2026-10")]["connects"] == 1


def test_deal_flags_for_the_pipeline_review() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    flags = deal_flags(frames(), MAPPING, HYGIENE, {"o1"}, now)
    assert [(f.crm_id, f.stage, f.days_in_stage, f.days_since_touch, f.reasons) for f in flags] == [
        ("D6", "Presentation scheduled", 29, 18, ["untouched", "stuck"])
    ]
    assert flags[0].url == "https://app.hubspot.com/contacts/1/deal/D6"
    assert deal_flags(frames(), MAPPING, HYGIENE, {"o2"}, now) == []


@st.composite
def histories(draw: st.DrawFn) -> CrmFrames:
    """Random deals walking the default pipeline, forwards, backwards and to a close."""
    ids = [s.id for s in MAPPING.stages]
    rows, stages = [], []
    for n in range(draw(st.integers(1, 12))):
        walk = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=6))
        days = sorted(draw(st.lists(st.integers(0, 200), min_size=len(walk), max_size=len(walk))))
        start = pd.Timestamp("2026-01-01", tz="UTC")
        rows.append(
            {
                "crm_id": f"D{n}",
                "name": f"Deal {n}",
                "owner_crm_id": "o1",
                "pipeline": "default",
                "stage": walk[-1],
                "amount": 100.0,
                "created_at": start + pd.Timedelta(days=days[0]),
                "closed_at": None,
                "close_date": None,
                "url": None,
            }
        )
        stages += [
            (f"D{n}", s, start + pd.Timedelta(days=d)) for s, d in zip(walk, days, strict=True)
        ]
    empty = pd.DataFrame(columns=["deal_crm_id", "owner_crm_id", "changed_at"])
    return CrmFrames(
        pd.DataFrame(rows),
        pd.DataFrame(stages, columns=["deal_crm_id", "stage", "entered_at"]),
        empty,
        pd.DataFrame(columns=["crm_id", "kind", "owner_crm_id", "occurred_at", "outcome"]),
        pd.DataFrame(columns=["activity_crm_id", "deal_crm_id"]),
        pd.DataFrame([("o1", "a@x.com", "A", True)], columns=["crm_id", "email", "name", "active"]),
    )


@settings(max_examples=60, deadline=None)
@given(histories())
def test_the_funnel_never_widens_downstream(data: CrmFrames) -> None:
    """Skipped stages count, each stage once per deal: over all months, wins ≤ demos ≤
    discovery calls ≤ deals, and each deal is won or lost at most once."""
    values = derive(data, MAPPING, HYGIENE, date(2026, 12, 31)).values
    total = values.groupby("name")["value"].sum().to_dict()
    wins, demos, discovery = (total.get(k, 0) for k in ("wins", "demos", "discovery_calls"))
    deals = len(data.deals)
    assert wins <= demos <= discovery <= deals
    assert wins + total.get("losses", 0) <= deals


@pytest.mark.parametrize("amount", [0.0, None])
def test_zero_and_missing_amounts_are_out(amount: float | None) -> None:
    base = frames()
    deals = base.deals.copy()
    deals.loc[deals["crm_id"] == "D1", "amount"] = amount
    data = CrmFrames(
        deals, base.stage_changes, base.owner_changes, base.activities, base.links, base.owners
    )
    october = as_dict(derive(data, MAPPING, HYGIENE, date(2026, 10, 31)).values)[
        ("ann@example.com", "2026-10")
    ]
    assert (october["wins"], october["revenue"]) == (0, 0)
