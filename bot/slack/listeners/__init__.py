"""Slack listeners, grouped by what they handle; each module registers itself on the app."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import (
    checkins,
    commands,
    errors,
    home,
    one_on_ones,
    pips,
    plans,
    reflections,
)


def register(app: App) -> None:
    """Attach every listener module to `app`."""
    commands.register(app)
    plans.register(app)
    pips.register(app)
    checkins.register(app)
    home.register(app)
    reflections.register(app)
    one_on_ones.register(app)
    errors.register(app)
