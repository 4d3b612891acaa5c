"""Block Kit for the pipeline review of a 1:1 (pure): a rep's deals going sideways, and the
hygiene figures `/coach gaps` and the plan modal show when a CRM is connected."""

from __future__ import annotations

import re
from typing import Any

from bot.coaching.wording import format_value
from bot.slack.blocks.mrkdwn import escape

MAX_SECTION = 3000
MAX_BLOCKS = 50  # Slack's limit for a message
# The hygiene metrics, in the order a pipeline review reads them.
HYGIENE_KEYS = (
    "untouched_share",
    "stuck_share",
    "open_deal_age",
    "days_between_touches",
    "deals_advanced",
    "new_pipeline",
    "pipeline_coverage",
)
SOURCE_NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}
# A link Slack renders as one: http(s), and nothing that ends or splits the <url|label> form.
_SAFE_URL = re.compile(r"^https?://[^\s<>|]+$")


def hygiene_text(metrics: list[dict[str, Any]]) -> str | None:
    """The rep's pipeline hygiene against the peers' medians, as mrkdwn; None when the report
    has none (no CRM connected). Labels are escaped here (a team's catalogue may rename them)."""
    by_key = {m["key"]: m for m in metrics}
    lines = []
    for key in HYGIENE_KEYS:
        m = by_key.get(key)
        if m is None or m.get("value") is None:
            continue
        median = m.get("peer_median")
        peers = f" (peers {format_value(m, median)})" if median is not None else ""
        lines.append(f"• {escape(m['label'])}: *{format_value(m, m['value'])}*{peers}")
    if not lines:
        return None
    return ":mag: *Pipeline hygiene* (from the CRM)\n" + "\n".join(lines)


def _link(flag: dict[str, Any]) -> str:
    name = escape(flag["name"] or flag["crm_id"])
    url = flag.get("url") or ""
    # Slack reads `|` and `>` inside a link as its end; such a URL is shown as plain text.
    return f"<{url}|{name}>" if _SAFE_URL.match(url) else f"*{name}*"


def _days(n: int) -> str:
    return f"{n:,} day{'' if n == 1 else 's'}"


def flag_line(flag: dict[str, Any]) -> str:
    """`• <link|Acme renewal> — Contract sent · $12,000 · 41 days in stage · last touch 18
    days ago — untouched, stuck`: names and stages escaped."""
    facts = [escape(flag["stage"])]
    if flag.get("amount") is not None:
        facts.append(f"${flag['amount']:,.0f}")
    facts.append(f"{_days(flag['days_in_stage'])} in stage")
    touch = flag.get("days_since_touch")
    facts.append("never touched" if touch is None else f"last touch {_days(touch)} ago")
    return f"• {_link(flag)} — {' · '.join(facts)} — {', '.join(flag['reasons'])}"


def pipeline_blocks(
    rep_name: str, source: str, flags: list[dict[str, Any]], untouched_days: int
) -> list[dict[str, Any]]:
    """`/coach pipeline @rep`: the rep's open deals going sideways, longest in their stage
    first, with links to the CRM records. Any number of deals fits Slack's limits (50 blocks,
    3,000 characters a section): what doesn't is counted at the end."""
    crm = SOURCE_NAMES.get(source, source)
    stuck = sum("stuck" in f["reasons"] for f in flags)
    untouched = sum("untouched" in f["reasons"] for f in flags)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"{rep_name}: pipeline"[:150]}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{len(flags):,} open deal{'s' if len(flags) != 1 else ''} in "
                    f"{escape(crm)} going sideways: {untouched:,} untouched for over "
                    f"{untouched_days} days, {stuck:,} stuck (far longer in their stage than "
                    "the team's usual time).",
                }
            ],
        },
    ]
    if not flags:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ":white_check_mark: No open deal is untouched or stuck.",
                },
            }
        )
        return blocks
    limit = MAX_BLOCKS - len(blocks) - 1  # one left for "and N more"
    sections: list[str] = []
    text, shown = "", 0
    for flag in flags:
        line = flag_line(flag)[:MAX_SECTION]
        if text and len(text) + 1 + len(line) > MAX_SECTION:
            sections.append(text)
            text = ""
            if len(sections) == limit:
                break
        text = f"{text}\n{line}" if text else line
        shown += 1
    if text:
        sections.append(text)
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": t}} for t in sections]
    if shown < len(flags):
        more = len(flags) - shown
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"… and {more:,} more: open the pipeline in {escape(crm)}.",
                    }
                ],
            }
        )
    return blocks
