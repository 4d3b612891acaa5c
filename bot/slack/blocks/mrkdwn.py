"""The one escaping rule for text the bot renders as Slack mrkdwn (pure).

Slack parses `&`, `<` and `>` in mrkdwn: `<!here>`, `<!channel>`, `<@U123>` and
`<https://…|label>` become pings and masked links. Every value that did not come from the app
itself — names, emails, plan and check-in fields, reflections, CSV values, a custom catalogue's
labels, sentences and suggestions, texts composed outside the Slack layer — goes through
`escape` before it enters a mrkdwn text (blocks, and the top-level `text` of a message or
response). `plain_text` fields are not parsed, so they take values as they are. Mentions the app
means to make are built from stored Slack ids, never from typed text.
"""

from __future__ import annotations

import html


def escape(value: object) -> str:
    """`value` as text Slack shows literally in mrkdwn: `&`, `<` and `>` as `&amp;`, `&lt;` and
    `&gt;`, Slack's documented escaping
    (https://api.slack.com/reference/surfaces/formatting#escaping). Only those three: Slack
    decodes no other entity, so quotes stay as they are."""
    return html.escape(str(value), quote=False)


def unescape(text: str) -> str:
    """What Slack shows for mrkdwn `text`'s entities, for rendering it elsewhere (the terminal).
    The exact inverse of `escape`: `&amp;` last, so `&amp;lt;` becomes `&lt;`, not `<`."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
