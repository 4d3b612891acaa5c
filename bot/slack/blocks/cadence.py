"""Block Kit for the cadence (pure: data in, (fallback text, blocks) out).

Names, plans, labels and notes come in raw: each is escaped (`escape`) where it enters mrkdwn,
the fallback `text` included (notifications render it)."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from analytics.roi import RoiRow
from bot.coaching.briefing import FocusOutcome, PlanView, RepBrief
from bot.coaching.months import through_label
from bot.coaching.wording import format_value, judged_text, lift_sentence, metric_sentence
from bot.slack.blocks.mrkdwn import escape

Blocks = list[dict[str, Any]]
MAX_TEXT = 3000
# Slack takes 50 blocks a message; a digest splits well before that.
DIGEST_BLOCKS = 45
REFLECTION_CALLBACK = "reflection_submit"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_TEXT]}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:MAX_TEXT]}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150]}}


def _button(action_id: str, text: str, value: str, primary: bool = False) -> dict[str, Any]:
    button = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text[:75]},
        "value": value[:2000],
    }
    if primary:
        button["style"] = "primary"
    return button


def outcome_line(f: FocusOutcome) -> str:
    """Once judged, the verdict beside what it was judged on ('Win rate: 22% in Nov 2026;
    expected 19% without coaching; peers' median 26% — improved'); before, where the rep is
    against the plan's figures ('Win rate 18% → 22% (team median 26%, target 24%) — moving
    toward the median'), as mrkdwn."""
    if f.verdict is not None and f.judged is not None:
        mark = " :white_check_mark:" if f.verdict == "closed" else ""
        judged = escape(judged_text(f.metric, f.judged))
        return f"{escape(f.label)}: {judged} — {f.verdict}{mark}"
    if f.now is None:
        verdict = "no data yet"
    else:
        verdict = "moving toward the median" if f.moved else "not moving yet"
    target = f", target {format_value(f.metric, f.target)}" if f.target is not None else ""
    return (
        f"{escape(f.label)} {format_value(f.metric, f.baseline)} → {format_value(f.metric, f.now)} "
        f"(team median {format_value(f.metric, f.peer_median)}{target}) — {verdict}"
    )


def _last_month(plan: PlanView | None, label: str) -> str:
    if plan is None:
        return f"*{label}:* no plan."
    focus = "\n".join(f"• {outcome_line(f)}" for f in plan.focus) or "• (no focus metric)"
    checkins = ", ".join(plan.checkins) or "none logged"
    return f"*{label}:* {escape('; '.join(plan.actions))}\n{focus}\nCheck-ins: {checkins}"


def _suggestion(brief: RepBrief) -> str:
    if brief.report is None:
        return f"*Suggested focus:* none — {escape(brief.problem)}."
    metrics = {m["key"]: m for m in brief.report["metrics"]}
    if not brief.report["focus"]:
        stretch = brief.report.get("stretch")
        return (
            "*Suggested focus:* no material gap — at or above the peers, or too close to call."
            + (f"\n• {escape(stretch['sentence'])}" if stretch else "")
        )
    lines = []
    for key in brief.report["focus"]:
        m = metrics[key]
        kind = "skill" if m["kind"] in ("conversion", "value") else "effort — ask why first"
        lines.append(f"• *{escape(m['label'])}*: {escape(metric_sentence(m))} ({kind})")
    return "*Suggested focus:*\n" + "\n".join(lines)


def day_one_parent(
    manager_name: str,
    month_label: str,
    reps: int,
    without_plan: int,
    note: str | None,
    covering: tuple[str, date] | None = None,
) -> tuple[str, Blocks]:
    """The day-one DM to a manager (one threaded reply per rep follows); to their director
    instead when `covering` (the manager's name, their last day away) says they are away all
    week — `manager_name` is then the director's."""
    text = f"{month_label.split()[0]} 1:1s — {reps} reps, {without_plan} with no plan last month"
    if covering is not None:
        text = f"{escape(covering[0])}'s {text}"
    blocks: Blocks = [
        _section(
            f"*{text}*\nGood morning {escape(manager_name.split()[0])}. Before each 1:1 today: "
            "the rep reflects, you walk the team charts together, and you agree one skill — why, "
            "and how, with a check-in you can measure. One reply per rep below."
        )
    ]
    if covering is not None:
        blocks.append(
            _context(
                f":palm_tree: {escape(covering[0])} is away until "
                f"{covering[1]:%A, %B} {covering[1].day}, all of the month's first week: their "
                "day-one thread comes to you so the 1:1s can go ahead."
            )
        )
    if note:
        blocks.append(_context(f":warning: {escape(note)}"))
    return text, blocks


def day_one_reply(
    brief: RepBrief, month: str, month_label: str, last_label: str
) -> tuple[str, Blocks]:
    """A day-one thread reply: last month's plan and how it went, this month's suggestion."""
    text = f"{escape(brief.name)}: {month_label} 1:1"
    actions = [_button("plan_open", "Create plan", f"{brief.email}|{month}", primary=True)]
    if brief.last_plan is not None and brief.last_plan.focus:
        actions.append(_button("plan_keep", "Keep last month's focus", f"{brief.email}|{month}"))
    blocks: Blocks = [
        _section(f"*{escape(brief.name)}*"),
        _section(_last_month(brief.last_plan, last_label)),
        _section(_suggestion(brief)),
    ]
    if brief.plan is not None:
        blocks.append(_context(":memo: A plan for this month is already saved."))
    blocks.append({"type": "actions", "elements": actions})
    return text, blocks


def reflection_invite(
    rep_name: str, manager_name: str | None, month: str, month_label: str, last_label: str
) -> tuple[str, Blocks]:
    """The rep's day-one DM: reflect on last month before the 1:1."""
    with_whom = f" with {escape(manager_name)}" if manager_name else ""
    text = f"Your {month_label.split()[0]} 1:1{with_whom} is today: how did {last_label} go?"
    return text, [
        _section(
            f"Hi {escape(rep_name.split()[0])} — your {month_label.split()[0]} 1:1{with_whom} "
            "is today. "
            f"Take two minutes first: how did {last_label} go, what went well, what would you "
            "improve? Your manager sees your answer when you plan the month together."
        ),
        {
            "type": "actions",
            "elements": [_button("reflection_open", "Write my reflection", month, primary=True)],
        },
    ]


def reflection_modal(
    month: str, month_label: str, last_label: str, existing: dict[str, str] | None
) -> dict[str, Any]:
    """The reflection modal: three questions, prefilled when the rep answered before."""
    existing = existing or {}

    def question(block_id: str, label: str, placeholder: str) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": True,
            "max_length": 2000,
            "placeholder": {"type": "plain_text", "text": placeholder},
        }
        if existing.get(block_id):
            element["initial_value"] = existing[block_id][:2000]
        return {
            "type": "input",
            "block_id": block_id,
            "label": {"type": "plain_text", "text": label},
            "element": element,
        }

    return {
        "type": "modal",
        "callback_id": REFLECTION_CALLBACK,
        "private_metadata": json.dumps({"month": month}),
        "title": {"type": "plain_text", "text": "Before your 1:1"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _context(
                f"For your {month_label} plan. You and the people you report to see it "
                "(and coach's admins)."
            ),
            question("how_it_went", f"How did {last_label} go?", "The month in a few lines"),
            question("went_well", "What went well?", "A deal, a call, a habit…"),
            question("improve", "What would you improve?", "One thing you'd do differently"),
        ],
    }


def _digest_rep(brief: RepBrief, last_label: str) -> str:
    if brief.plan is None:
        line = f"*{escape(brief.name)}* — :warning: *no plan yet*"
        if brief.report and brief.report["focus"]:
            metrics = {m["key"]: m for m in brief.report["metrics"]}
            labels = ", ".join(metrics[k]["label"] for k in brief.report["focus"])
            line += f" · suggested: {escape(labels)}"
    else:
        what = "; ".join(
            f"{escape(f.label)} {format_value(f.metric, f.baseline)} → "
            f"{format_value(f.metric, f.target)}"
            for f in brief.plan.focus
        )
        line = (
            f"*{escape(brief.name)}*\n*What skill:* {what}\n*Why:* {escape(brief.plan.why)}\n"
            f"*How:* {escape('; '.join(brief.plan.actions))}"
        )
    if brief.last_plan is not None:
        verdicts = "; ".join(outcome_line(f) for f in brief.last_plan.focus)
        line += f"\n_{last_label}:_ {verdicts or 'plan without focus'}"
    return line


def cohort(briefs: list[RepBrief]) -> tuple[int, int]:
    """(last month's plans whose gap closed, last month's plans with data to tell)."""
    verdicts = [b.last_plan.closed for b in briefs if b.last_plan is not None]
    known = [v for v in verdicts if v is not None]
    return sum(known), len(known)


def _cohort_text(closed: int, known: int, last_label: str) -> str:
    if not known:
        return f"no {last_label} plans with data yet"
    return f"{closed} of {known} {last_label} plans closed their gap ({closed / known:.0%})"


def _quarter_text(briefs: list[RepBrief]) -> str:
    """' · last quarter 3 of 7 plans closed (43%) · 5 of 8 reps at quota', from the archive."""
    closed = sum(b.quarter[0] for b in briefs)
    judged = sum(b.quarter[1] for b in briefs)
    text = (
        f" · last quarter {closed} of {judged} plans closed ({closed / judged:.0%})"
        if judged
        else ""
    )
    quota = [b.at_quota for b in briefs if b.at_quota is not None]
    if quota:
        text += f" · {sum(quota)} of {len(quota)} reps at quota"
    return text


def digest_team(manager_name: str, briefs: list[RepBrief], last_label: str) -> Blocks:
    """One manager's part of the digest: reps without a plan first, then what, why and how."""
    missing = sum(1 for b in briefs if b.plan is None)
    closed, known = cohort(briefs)
    blocks: Blocks = [
        _section(
            f"*{escape(manager_name)}* — {len(briefs)} reps, {missing} without a plan · "
            f"cohort: {_cohort_text(closed, known, last_label)}" + _quarter_text(briefs)
        )
    ]
    ordered = sorted(briefs, key=lambda b: (b.plan is not None, b.name))
    blocks.extend(_section(_digest_rep(b, last_label)) for b in ordered)
    return blocks


def lift_line(lift: RoiRow | None) -> str:
    """The digest's coaching ROI line: last quarter's lift with its interval, when there is one."""
    if lift is None or lift.lift is None or lift.interval is None:
        return "Coaching lift, last quarter: not enough coached plans yet."
    compared = (
        f", against {lift.controls} flagged but uncoached"
        if lift.comparison_weight > 0
        else ", too few uncoached reps to compare with"
    )
    return (
        f"Coaching lift, last quarter: *{lift_sentence(lift.lift, lift.interval)}* over what "
        f"was expected without coaching ({lift.coached} coached plan metrics{compared})."
    )


def pip_count(count: int) -> Blocks:
    """A team's running PIPs in the digest: how many, never who."""
    if not count:
        return []
    return [_context(f"{count} rep{'s' if count > 1 else ''} on a performance improvement plan")]


def digest(
    director_name: str,
    month_label: str,
    last_label: str,
    teams: list[tuple[str, str, list[RepBrief]]],
    note: str | None,
    pips: dict[str, int] | None = None,
    lift: RoiRow | None = None,
) -> list[tuple[str, str, Blocks]]:
    """The day-two digest: one message, or a summary with one threaded reply per manager (split
    further when one team alone would pass Slack's block limit).

    `teams` are (id, manager's name, briefs); each message comes as (part, text, blocks), where
    part is "" for the first and names the team (and the piece of it) for the replies. `lift`:
    the division's coaching ROI over the last quarter (None: not enough plans to tell)."""
    briefs = [b for _, _, team in teams for b in team]
    missing = sum(1 for b in briefs if b.plan is None)
    closed, known = cohort(briefs)
    text = f"{month_label.split()[0]} coaching review — {len(briefs)} reps, {missing} with no plan"
    head: Blocks = [
        _header(text),
        _section(
            f"Good morning {escape(director_name.split()[0])}. For every rep ask: *what skill* is "
            "this rep working on this month, *why* that one, and *how* will they develop it — "
            f"with their manager's help? Division: {_cohort_text(closed, known, last_label)}."
        ),
        _section(lift_line(lift)),
    ]
    if note:
        head.append(_context(f":warning: {escape(note)}"))
    pips = pips or {}
    parts = [digest_team(n, team, last_label) + pip_count(pips.get(i, 0)) for i, n, team in teams]
    if len(head) + sum(len(p) + 1 for p in parts) <= DIGEST_BLOCKS:
        blocks = list(head)
        for part in parts:
            blocks.append({"type": "divider"})
            blocks.extend(part)
        return [("", text, blocks)]
    messages = [("", text, head + [_context("One reply per manager in the thread.")])]
    for (team_id, name, _), part in zip(teams, parts, strict=True):
        for piece, start in enumerate(range(0, len(part), DIGEST_BLOCKS)):
            blocks = part[start : start + DIGEST_BLOCKS]
            messages.append((f"{team_id}:{piece}", f"{escape(name)}'s team", blocks))
    return messages


def daily_progress(
    day_label: str,
    month_label: str,
    teams: list[tuple[str, dict[str, float]]],
    focus: list[tuple[str, int, int]],
    through: date | None = None,
) -> tuple[str, Blocks]:
    """The daily progress post: month-to-date funnel by team (manager's name, totals), and the
    coached metrics' movement (label, reps coached, reps moving toward the median). `through`:
    the last day the imported month-to-date rows cover, when they say."""
    text = f"Progress, {day_label}: {month_label} to date"
    blocks: Blocks = [_header(text)]
    if through is not None:
        blocks.append(_context(f"Numbers {escape(through_label(through))}."))
    if not teams:
        blocks.append(_section(f"No {month_label} numbers imported yet."))
    stages = ("leads_prospected", "connects", "discovery_calls", "demos", "wins", "revenue")
    names = ("leads", "connects", "discovery", "demos", "wins", "bookings")
    for name, totals in teams[:40]:
        funnel = " → ".join(
            f"{'$' if stage == 'revenue' else ''}{totals[stage]:,.0f} {label}"
            for stage, label in zip(stages, names, strict=True)
            if stage in totals
        )
        blocks.append(_section(f"*{escape(name)}*: {funnel or 'no numbers'}"))
    if len(teams) > 40:
        blocks.append(_context(f"…and {len(teams) - 40} more teams."))
    if focus:
        lines = [
            f"• {escape(label)}: {coached} reps coached, {moving} moving toward the median"
            for label, coached, moving in focus
        ]
        blocks.append(_section("*Coached metrics this month*\n" + "\n".join(lines)))
    return text, blocks


# Sections of a reminder or escalation: room under Slack's 50 blocks for a head and a tail.
NUDGE_ITEMS = 45


def reminder(
    manager_name: str, month: str, month_label: str, reps: list[tuple[str, str]]
) -> tuple[str, Blocks]:
    """The working-day reminder, in the day-one thread: the reps (name, email) still without a
    plan for `month`, each with a Create plan button."""
    month_name = month_label.split()[0]
    text = (
        f"Reminder: {len(reps)} of your reps have no {month_name} plan yet"
        if len(reps) > 1
        else f"Reminder: one of your reps has no {month_name} plan yet"
    )
    blocks: Blocks = [
        _section(
            f"*{text}*\nHi {escape(manager_name.split()[0])} — a plan agreed early is a month of "
            "coaching; these reps are still waiting for theirs:"
        )
    ]
    for name, email in reps[:NUDGE_ITEMS]:
        section = _section(f"*{escape(name)}*")
        section["accessory"] = _button("plan_open", "Create plan", f"{email}|{month}")
        blocks.append(section)
    if len(reps) > NUDGE_ITEMS:
        blocks.append(_context(f"…and {len(reps) - NUDGE_ITEMS} more: `/coach plan @rep`."))
    blocks.append(_context("You can mute these reminders from coach's App Home."))
    return text, blocks


def escalation(
    director_name: str, month_label: str, managers: list[tuple[str, list[str]]]
) -> tuple[str, Blocks]:
    """The director's one message: managers (name, their planless reps' names) whose reps
    still have no plan after the reminder."""
    count = sum(len(reps) for _, reps in managers)
    month_name = month_label.split()[0]
    reps_word = "rep still has" if count == 1 else "reps still have"
    managers_word = "manager" if len(managers) == 1 else "managers"
    text = f"{count} {reps_word} no {month_name} plan, under {len(managers)} {managers_word}"
    blocks: Blocks = [
        _section(
            f"*{text}*\nGood morning {escape(director_name.split()[0])}. Their managers were "
            "reminded; a word from you may help:"
        )
    ]
    for name, reps in managers[:NUDGE_ITEMS]:
        listed = ", ".join(escape(r) for r in reps)
        blocks.append(_section(f"*{escape(name)}* — {len(reps)} without a plan: {listed}"))
    if len(managers) > NUDGE_ITEMS:
        blocks.append(_context(f"…and {len(managers) - NUDGE_ITEMS} more managers."))
    return text, blocks
