"""The one escaping rule for mrkdwn, and the terminal's way back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli.terminal import render_blocks, render_mrkdwn
from bot.slack.blocks.mrkdwn import escape, unescape


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!here> Mia", "&lt;!here&gt; Mia"),
        ("<@U0ATTACK>", "&lt;@U0ATTACK&gt;"),
        (
            "<https://evil.example|open your numbers>",
            "&lt;https://evil.example|open your numbers&gt;",
        ),
        ("R&D", "R&amp;D"),
        ("&lt;!channel&gt;", "&amp;lt;!channel&amp;gt;"),  # typed entities stay as typed
        ('Priya "P" O\'Neil', 'Priya "P" O\'Neil'),  # only &, < and >: Slack decodes no other
        ("*bold* _it_ `code` :tada:", "*bold* _it_ `code` :tada:"),
        ("", ""),
    ],
)
def test_escape_follows_slacks_rule(raw: str, escaped: str) -> None:
    assert escape(raw) == escaped
    assert unescape(escaped) == raw


def test_escape_takes_any_value() -> None:
    assert escape(ValueError("a <b> & c")) == "a &lt;b&gt; &amp; c"


@given(st.text())
def test_escaped_text_has_no_control_characters_and_comes_back(text: str) -> None:
    escaped = escape(text)
    assert "<" not in escaped and ">" not in escaped
    # Every & left starts one of the three entities Slack decodes.
    assert escaped.count("&") == sum(escaped.count(e) for e in ("&amp;", "&lt;", "&gt;"))
    assert unescape(escaped) == text


def test_the_terminal_shows_mrkdwn_as_slack_would_and_plain_text_as_it_is() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "<!here> Mia & Co"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*&lt;!here&gt; Mia &amp; Co*"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "R&amp;D"}]},
    ]
    assert render_blocks(blocks).plain == "<!here> Mia & Co\n<!here> Mia & Co\nR&D\n"
    assert render_mrkdwn("logged by &lt;@U0ATTACK&gt;").plain == "logged by <@U0ATTACK>"
