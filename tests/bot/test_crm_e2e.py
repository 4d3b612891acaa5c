"""A CRM connected, over HTTP: `/coach pipeline @rep` lists the deals going sideways with links
(escaped, within Block Kit's limits, same rights as gaps), and `/coach gaps` and the plan modal
show the pipeline hygiene; without a CRM they say how to connect one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from sqlalchemy import Engine, update

from analytics.crm_mapping import load_mapping
from bot.coaching import crm as coaching_crm
from bot.slack.blocks.pipeline import pipeline_blocks
from bot.slack.listeners.commands import NO_CRM, NOT_YOURS
from storage.crm import CrmStore, apply_crm
from storage.crm_records import CrmActivity, CrmDeal, CrmOwner, CrmPage, CrmStageChange
from storage.db import session_scope
from storage.models import Person
from tests.bot.conftest import (
    REPS_OF_MARK,
    REPS_OF_MIA,
    WORKSPACE,
    Bot,
    blocks_text,
    make_cadence,
    seed,
    serve_bot,
)

NOW = "2026-11-02 09:30:00+00:00"
URL = "https://app.hubspot.com/contacts/1/record/0-3/{}"


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def november() -> Iterator[None]:
    with time_machine.travel(NOW, tick=True):
        yield


def crm_page(rep: int) -> CrmPage:
    """Rep `rep`'s owner, a deal won in October, one open deal touched last week, and one open
    deal untouched since it was created on 10-01 (rep 1's is named to tempt a ping)."""
    owner = f"o{rep}"
    open_name = "<!channel> & Co" if rep == 1 else f"Quiet {rep}"
    deals = [
        (
            f"{rep}01",
            f"Won {rep}",
            "closedwon",
            at(10, 1),
            [("appointmentscheduled", at(10, 1)), ("closedwon", at(10, 6))],
        ),
        (
            f"{rep}02",
            f"Busy {rep}",
            "presentationscheduled",
            at(10, 10),
            [("presentationscheduled", at(10, 25))],
        ),
        (
            f"{rep}03",
            open_name,
            "appointmentscheduled",
            at(10, 1),
            [("appointmentscheduled", at(10, 1))],
        ),
    ]
    return CrmPage(
        owners=[
            CrmOwner(
                crm_id=owner, email=f"rep{rep}@example.com", name=f"Rep {rep}", modified_at=at(9, 1)
            )
        ],
        deals=[
            CrmDeal(
                crm_id=crm_id,
                name=name,
                owner_crm_id=owner,
                pipeline="default",
                stage=stage,
                amount=1000.0 * rep,
                created_at=created,
                close_date=date(2026, 12, 15),
                url=URL.format(crm_id),
                modified_at=created,
            )
            for crm_id, name, stage, created, _ in deals
        ],
        stage_changes=[
            CrmStageChange(deal_crm_id=crm_id, stage=stage, entered_at=entered)
            for crm_id, _, _, _, history in deals
            for stage, entered in history
        ],
        activities=[
            CrmActivity(
                crm_id=f"c{rep}{n}",
                kind="call",
                owner_crm_id=owner,
                occurred_at=at(10, 26) + timedelta(days=n),
                deal_crm_ids=(f"{rep}02",),
                modified_at=at(10, 26),
            )
            for n in range(rep % 3 + 1)
        ],
    )


def connect_crm(engine: Engine) -> None:
    """A HubSpot sync of every rep's deals, then the counts derived, as `coach sync` does."""
    store = CrmStore(engine, WORKSPACE)
    with store.record_run("hubspot"):
        for rep in range(1, len(REPS_OF_MARK + REPS_OF_MIA) + 1):
            store.write_page("hubspot", crm_page(rep), "deals", str(rep))
        apply_crm(engine, WORKSPACE, "hubspot", load_mapping(), date(2026, 11, 2))


@pytest.fixture
def crm_bot(sqlite_engine: Engine, slack: Any) -> Iterator[Bot]:
    seed(sqlite_engine, ["2026-08", "2026-09", "2026-10"])
    connect_crm(sqlite_engine)
    with serve_bot(sqlite_engine, slack) as served:
        yield served


def check_message(blocks: list[dict[str, Any]]) -> None:
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        Block.parse(block).validate_json()


def test_pipeline_lists_the_deals_going_sideways_with_links(crm_bot: Bot) -> None:
    crm_bot.command("pipeline <@UREP1|rep1>", "UMARK")
    [reply] = crm_bot.replies()
    check_message(reply["blocks"])
    text = blocks_text(reply)
    # The quiet deal: untouched 32 days, and as long in its first stage, where the team's won
    # deals spent 5 days (the median of 10 stays; stuck is over twice that).
    assert f"<{URL.format('103')}|&lt;!channel&gt; &amp; Co>" in text
    assert "Appointment scheduled · $1,000 · 32 days in stage · never touched" in text
    assert "untouched, stuck" in text
    assert "Busy 1" not in text and "Won 1" not in text
    assert "<!channel>" not in json.dumps(reply)


def test_pipeline_keeps_to_the_rights_of_gaps(crm_bot: Bot) -> None:
    crm_bot.command("pipeline <@UREP6|rep6>", "UMARK")
    [reply] = crm_bot.replies()
    assert reply["text"] == NOT_YOURS and not reply.get("blocks")
    crm_bot.command("pipeline <@UREP1|rep1>", "UREP1")  # a rep's own pipeline
    assert "Quiet" not in blocks_text(crm_bot.replies(2)[1])
    assert "&lt;!channel&gt;" in blocks_text(crm_bot.replies(2)[1])


def test_gaps_and_the_plan_modal_show_pipeline_hygiene(crm_bot: Bot) -> None:
    crm_bot.command("gaps <@UREP1|rep1>", "UMARK")
    [reply] = crm_bot.replies()
    check_message(reply["blocks"])
    text = blocks_text(reply)
    assert "Pipeline hygiene" in text
    assert "Untouched opportunities" in text and "Stuck opportunities" in text
    crm_bot.command("plan <@UREP1|rep1>", "UMARK")
    crm_bot.slack.wait_for("views.open")
    [update] = crm_bot.slack.wait_for("views.update")
    view = update.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    View(**view).validate_json()
    assert "Pipeline hygiene" in json.dumps(view)


def test_without_a_crm_there_is_no_hygiene_and_pipeline_says_how(bot: Bot) -> None:
    bot.command("pipeline <@UREP1|rep1>", "UMARK")
    [reply] = bot.replies()
    assert reply["text"] == NO_CRM
    bot.command("gaps <@UREP1|rep1>", "UMARK")
    assert "Pipeline hygiene" not in blocks_text(bot.replies(2)[1])


def test_two_hundred_deals_fit_slacks_limits() -> None:
    flags = [
        {
            "crm_id": str(n),
            "name": f"Deal {n} " + "x" * 80,
            "url": URL.format(n),
            "stage": "Contract sent",
            "amount": 12_000.0,
            "days_in_stage": 400 - n,
            "days_since_touch": None if n % 2 else n,
            "reasons": ["untouched", "stuck"],
        }
        for n in range(200)
    ]
    blocks = pipeline_blocks("Rep 1", "hubspot", flags, 14)
    check_message(blocks)
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert text.count("• ") == 200  # every one shown: 200 lines fit in 47 sections
    many = pipeline_blocks("Rep 1", "hubspot", flags * 20, 14)
    check_message(many)
    shown = sum(b["text"]["text"].count("• ") for b in many if b["type"] == "section")
    assert many[-1]["elements"][0]["text"] == (
        f"… and {4000 - shown:,} more: open the pipeline in HubSpot."
    )


def test_a_link_that_would_break_out_is_plain_text() -> None:
    flag = {
        "crm_id": "1",
        "name": "Evil",
        "url": "https://x.example/a|<!here>",
        "stage": "S",
        "amount": None,
        "days_in_stage": 1,
        "days_since_touch": 1,
        "reasons": ["stuck"],
    }
    blocks = pipeline_blocks("Rep", "salesforce", [flag], 14)
    assert "<!here>" not in json.dumps(blocks)
    assert (
        blocks[-1]["text"]["text"] == "• *Evil* — S · 1 day in stage · last touch 1 day ago — stuck"
    )


def test_a_ticks_preps_review_each_reps_own_deals_reading_the_crm_once(
    crm_bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mark's five reps meet at the same moment: one read of the CRM's records judges all five,
    and each prep lists its own rep's deals going sideways, and no one else's."""
    reads: list[set[str] | None] = []
    load = coaching_crm.load_frames

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs.get("touches_of"))
        return load(*args, **kwargs)

    monkeypatch.setattr(coaching_crm, "load_frames", counted)
    with session_scope(crm_bot.engine) as session:
        session.execute(
            update(Person)
            .where(Person.email.in_(REPS_OF_MARK))
            .values(one_on_one_weekday=0, one_on_one_time=time(14, 0))
        )
    cadence = make_cadence(crm_bot.engine, crm_bot.slack)
    [run] = cadence.run("one-on-one", month="2026-11-02")  # Monday: every prep of the day now
    assert run.summary is not None and run.summary.sent == 5
    assert reads == [{f"o{n}" for n in range(1, 6)}]
    preps = {
        m["text"].split(": ")[1].split(",")[0]: blocks_text(m)
        for m in crm_bot.slack.posted("UMARK")
        if m["text"].startswith("1:1 prep")
    }
    assert sorted(preps) == [f"Rep {n}" for n in range(1, 6)]
    for n in range(1, 6):
        quiet = "&lt;!channel&gt; &amp; Co" if n == 1 else f"Quiet {n}"
        assert quiet in preps[f"Rep {n}"] and URL.format(f"{n}03") in preps[f"Rep {n}"]
        others = [m for m in range(1, 11) if m != n]
        assert not any(URL.format(f"{m}03") in preps[f"Rep {n}"] for m in others)
