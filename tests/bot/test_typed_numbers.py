"""Numbers typed into modals, read in each person's Slack locale (Babel), and written back so."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from bot.coaching.numbers import (
    TypedNumberError,
    format_typed,
    locale_of,
    parse_typed,
    typing_example,
)
from tests.bot.conftest import Bot
from tests.bot.test_plan_e2e import open_modal, plans, state, submit

LOCALES = ["en_US", "en_GB", "en_IN", "de_DE", "de_CH", "fr_FR", "es_ES", "pt_BR", "ja_JP"]


@pytest.mark.parametrize(
    ("locale", "text", "unit", "expected"),
    [
        ("en_US", "12,000", "count", 12000),
        ("en_US", "12k", "count", 12000),
        ("en_US", "1.5k", "currency", 1500),
        ("en_US", "$12,500", "currency", 12500),
        ("en_US", "USD 1,200", "currency", 1200),
        ("en_US", "1", "percent", 0.01),  # a rate is typed in percent, "%" or not
        ("en_US", "26%", "percent", 0.26),
        ("en_US", "26.5", "percent", 0.265),
        ("en_US", "40 days", "days", 40),
        ("en_US", "2.5", "ratio", 2.5),
        ("de_DE", "1,5", "ratio", 1.5),
        ("de_DE", "12.000", "count", 12000),
        ("de_DE", "12.500 €", "currency", 12500),
        ("de_DE", "26,5 %", "percent", 0.265),
        ("fr_FR", "1 234,5", "count", 1234.5),  # a plain space where French writes a no-break one
        ("fr_FR", "1\u202f234,5", "count", 1234.5),
        ("de_CH", "12’000", "count", 12000),
        ("en_IN", "1,20,000", "currency", 120000),
    ],
)
def test_typed_numbers_are_read_in_the_locale(
    locale: str, text: str, unit: str, expected: float
) -> None:
    assert parse_typed(text, unit, locale) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("locale", "text", "unit", "needle"),
    [
        ("en_US", "150%", "percent", "can't be over 100%"),
        ("en_US", "101", "percent", "can't be over 100%"),
        ("en_US", "1,5", "ratio", "Did you mean 15?"),  # a typo in English, not one and a half
        ("en_US", "-3", "count", "zero or more"),
        ("en_US", "nan", "count", "isn't a number"),
        ("en_US", "lots", "count", "isn't a number"),
        ("en_US", "", "count", "Give a number"),
        ("en_US", "12%", "count", "isn't a rate"),
        ("en_US", "12k", "percent", "isn't a number"),  # no thousands of percent
        ("en_US", "9" * 400, "count", "too large"),
    ],
)
def test_impossible_numbers_are_refused_in_words(
    locale: str, text: str, unit: str, needle: str
) -> None:
    with pytest.raises(TypedNumberError, match=needle):
        parse_typed(text, unit, locale)


def test_slack_locale_tags_map_to_babel_and_unknown_ones_to_english() -> None:
    assert locale_of("de-DE") == "de_DE"
    assert locale_of("pt-BR") == "pt_BR"
    assert locale_of("xx-YY") == "en_US"
    assert locale_of(None) == "en_US"
    assert typing_example("de_DE") == "e.g. 26% or 12.000"


@given(
    locale=st.sampled_from(LOCALES),
    unit=st.sampled_from(["count", "currency", "days", "ratio", "percent"]),
    tenths=st.integers(min_value=0, max_value=10**9),
)
def test_what_is_written_back_reads_back_the_same(locale: str, unit: str, tenths: int) -> None:
    """A prefilled target, submitted unchanged, is the same number in every locale."""
    if unit == "percent":
        value = min(tenths, 1000) / 1000  # 0.0%–100.0% in tenths of a percent
    elif unit == "ratio":
        value = tenths / 100
    else:
        value = tenths / 10
    assert parse_typed(format_typed(value, unit, locale), unit, locale) == pytest.approx(value)


@pytest.fixture(autouse=True)
def november() -> Iterator[None]:
    with time_machine.travel("2026-11-02 09:30:00+00:00", tick=True):
        yield


def test_a_german_manager_types_targets_the_german_way(bot: Bot) -> None:
    bot.slack.add_user("UMARK", "mark@example.com", name="Mark Manager", locale="de-DE")
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    target = next(b for b in modal["blocks"] if b.get("block_id") == "target_1")
    assert target["element"]["placeholder"]["text"] == "e.g. 26% or 12.000"
    asked = bot.slack.calls_to("users.info")
    assert any(str(c.params.get("include_locale")).lower() in ("true", "1") for c in asked)

    status, body = submit(bot, "UMARK", modal, state(["close_rate"], ["30,5"]))
    assert status == 200 and body == ""  # 30.5%: not 305 and not refused
    assert plans(bot) == [("2026-11", "close_rate", pytest.approx(0.305))]


def test_an_english_typo_is_refused_inline_not_misread(bot: Bot) -> None:
    modal = open_modal(bot, "UMARK", "<@UREP1|rep1>")
    status, body = submit(bot, "UMARK", modal, state(["close_rate"], ["2,5"]))
    assert status == 200 and "Did you mean 25?" in body
    assert plans(bot) == []
