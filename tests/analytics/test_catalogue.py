"""The metric catalogue: the shipped default, extending and replacing it, and broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.catalogue import CatalogueError, load_catalogue, parse_linear

DEFAULT_KEYS = [
    "leads_prospected",
    "connect_rate",
    "discovery_rate",
    "demo_rate",
    "close_rate",
    "win_rate",
    "avg_deal_size",
    "sales_cycle_days",
    "follow_up_ratio",
    "contacts_per_account",
    "opportunities_worked",
    "bookings",
    "attainment",
]


def test_default_catalogue_has_the_issue_metrics() -> None:
    cat = load_catalogue()
    assert [m.key for m in cat.metrics] == DEFAULT_KEYS
    expected = {
        # key: (numerator, denominator, kind, direction, model)
        "leads_prospected": ("leads_prospected", None, "activity", "higher", "gamma_poisson"),
        "connect_rate": ("connects", "leads_prospected", "conversion", "higher", "beta_binomial"),
        "discovery_rate": ("discovery_calls", "connects", "conversion", "higher", "beta_binomial"),
        "demo_rate": ("demos", "discovery_calls", "conversion", "higher", "beta_binomial"),
        "close_rate": ("wins - inherited_wins", "demos", "conversion", "higher", "beta_binomial"),
        "win_rate": (
            "wins - inherited_wins",
            "wins - inherited_wins + losses",
            "conversion",
            "higher",
            "beta_binomial",
        ),
        "avg_deal_size": (
            "revenue - inherited_revenue",
            "wins - inherited_wins",
            "value",
            "higher",
            "normal",
        ),
        "sales_cycle_days": ("cycle_days", "wins", "value", "lower", "gamma_poisson"),
        "follow_up_ratio": (
            "follow_up_meetings",
            "initial_meetings",
            "conversion",
            "higher",
            "gamma_poisson",
        ),
        "contacts_per_account": (
            "contacts_engaged",
            "accounts_active",
            "value",
            "higher",
            "gamma_poisson",
        ),
        "opportunities_worked": (
            "opportunities_worked",
            None,
            "activity",
            "higher",
            "gamma_poisson",
        ),
        "bookings": ("revenue", None, "outcome", "higher", "normal"),
        "attainment": ("revenue", "quota", "outcome", "higher", "normal"),
    }
    for metric in cat.metrics:
        got = (metric.numerator, metric.denominator, metric.kind, metric.direction, metric.model)
        assert got == expected[metric.key], metric.key
        assert metric.label and metric.stage and metric.sentence
        assert "{value}" in metric.sentence
        if metric.kind != "outcome":
            assert metric.suggestions, metric.key
    assert cat.metric("close_rate").sentence == "Closes {value} of demos"
    assert any("Record 2 discovery calls" in s for s in cat.metric("demo_rate").suggestions)
    assert cat.columns == [
        "leads_prospected",
        "connects",
        "discovery_calls",
        "demos",
        "wins",
        "losses",
        "revenue",
        "quota",
        "initial_meetings",
        "follow_up_meetings",
        "contacts_engaged",
        "accounts_active",
        "opportunities_worked",
        "cycle_days",
        "inherited_wins",
        "inherited_revenue",
    ]
    assert cat.zero_if_missing == ["inherited_wins", "inherited_revenue"]


def test_parse_linear() -> None:
    assert parse_linear("wins - inherited_wins + losses") == {
        "wins": 1.0,
        "inherited_wins": -1.0,
        "losses": 1.0,
    }
    assert parse_linear("2 * demos - (wins - losses)") == {"demos": 2, "wins": -1, "losses": 1}
    assert parse_linear("wins - wins + demos") == {"demos": 1.0}
    for bad in ("wins / demos", "wins +", "demos * wins", "log(wins)", "3"):
        with pytest.raises(ValueError, match="bad expression"):
            parse_linear(bad)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_extends_the_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "metrics.yaml",
        """
columns: [no_shows]
metrics:
  - key: no_show_rate
    label: Demo no-shows
    kind: conversion
    direction: lower
    numerator: no_shows
    denominator: demos + no_shows
    suggestions: ["Confirm every demo by phone the day before"]
  - key: close_rate
    label: Demo-to-win
""",
    )
    cat = load_catalogue(path)
    assert [m.key for m in cat.metrics] == [*DEFAULT_KEYS, "no_show_rate"]
    assert "no_shows" in cat.columns and "demos" in cat.columns
    new = cat.metric("no_show_rate")
    assert new.model == "beta_binomial" and new.direction == "lower"
    assert new.denominator_terms == {"demos": 1.0, "no_shows": 1.0}
    close = cat.metric("close_rate")  # same key: updated field by field
    assert close.label == "Demo-to-win" and close.numerator == "wins - inherited_wins"


def test_toml_replaces_the_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "metrics.toml",
        """
mode = "replace"
columns = ["meetings_booked"]

[[metrics]]
key = "meetings_booked"
label = "Meetings booked per month"
kind = "activity"
direction = "higher"
numerator = "meetings_booked"

[[metrics]]
key = "close_rate"
label = "Close rate"
kind = "conversion"
direction = "higher"
numerator = "wins"
denominator = "demos"
model = "gamma_poisson"
""",
    )
    cat = load_catalogue(path)
    assert [m.key for m in cat.metrics] == ["meetings_booked", "close_rate"]
    assert cat.metric("close_rate").model == "gamma_poisson"  # overridden
    assert cat.metric("meetings_booked").model == "gamma_poisson"  # from kind
    assert "meetings_booked" in cat.columns and "leads_prospected" in cat.columns


def test_changing_kind_re_defaults_the_model(tmp_path: Path) -> None:
    path = write(tmp_path, "m.yml", "metrics:\n  - {key: avg_deal_size, kind: conversion}\n")
    assert load_catalogue(path).metric("avg_deal_size").model == "beta_binomial"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("m.yaml", "metrics: [\n", "m.yaml: not valid YAML"),
        ("m.toml", "metrics = [", "m.toml: not valid TOML"),
        ("m.json", "{}", "m.json: use a .yaml, .yml or .toml file"),
        ("m.yaml", "- 1\n- 2\n", "m.yaml: expected a mapping"),
        ("m.yaml", "metric: []\n", "m.yaml: unknown field 'metric'"),
        ("m.yaml", "mode: merge\n", "m.yaml: mode must be 'extend' or 'replace'"),
        (
            "metrics.yaml",
            "metrics:\n  - {key: win_rat, label: W, kind: conversion, direction: higher,"
            " numerator: wins, denominator: wins2}\n",
            "metrics.yaml: metric 'win_rat': unknown column 'wins2' in denominator",
        ),
        (
            "m.yaml",
            "metrics:\n  - {key: x, label: X, kind: rate, direction: higher, numerator: wins}\n",
            "m.yaml: metric 'x': kind: Input should be",
        ),
        (
            "m.yaml",
            "metrics:\n  - {key: x, label: X, kind: activity, direction: up, numerator: wins}\n",
            "m.yaml: metric 'x': direction: Input should be 'higher' or 'lower' (got 'up')",
        ),
        (
            "m.yaml",
            "metrics:\n  - {key: x, label: X, kind: activity, direction: higher,"
            " numerator: wins / demos}\n",
            "m.yaml: metric 'x': bad expression 'wins / demos'",
        ),
        (
            "m.yaml",
            "metrics:\n  - {key: x, kind: activity, direction: higher, numerator: wins}\n",
            "m.yaml: metric 'x': missing field 'label'",
        ),
        (
            "m.yaml",
            "metrics:\n  - {label: X, kind: activity, direction: higher, numerator: wins}\n",
            "m.yaml: metric #1: missing field 'key'",
        ),
        (
            "m.yaml",
            "metrics:\n  - {key: x, label: X, kind: activity, direction: higher, numerator: wins}\n"
            "  - {key: x, label: Y, kind: activity, direction: higher, numerator: wins}\n",
            "m.yaml: metric 'x': defined twice",
        ),
        (
            "m.yaml",
            "metrics:\n  - key: x\n    label: X\n    label: Y\n",
            "m.yaml: line 4: 'label' given twice",
        ),
        (
            "m.yaml",
            "metrics:\n  - {key: x, label: X, kind: conversion, direction: higher,"
            " numerator: wins}\n",
            "m.yaml: metric 'x': a conversion metric needs a denominator",
        ),
        (
            "m.yaml",
            "metrics:\n  - {key: close_rate, numerater: wins}\n",
            "m.yaml: metric 'close_rate': unknown field 'numerater'",
        ),
        (
            "m.yaml",
            "metrics:\n  - {key: close_rate, sentence: 'Closes {rate}'}\n",
            "m.yaml: metric 'close_rate': sentence may only use the placeholder {value}",
        ),
        ("m.yaml", "columns: [Bad-Name]\n", "m.yaml: column 'Bad-Name'"),
        ("m.yaml", "zero_if_missing: [nope]\n", "m.yaml: zero_if_missing: unknown column 'nope'"),
        ("m.yaml", "mode: replace\n", "m.yaml: no metrics defined"),
        ("m.yaml", "amounts: [nope]\n", "m.yaml: amounts: unknown column 'nope'"),
        ("m.yaml", "constraints: wins <= demos\n", "m.yaml: 'constraints' must be a list"),
        (
            "m.yaml",
            "constraints: ['wins < demos']\n",
            "m.yaml: constraint #1: bad check 'wins < demos': write it as 'expression <= "
            "expression'",
        ),
        (
            "m.yaml",
            "constraints: ['wins <= demos <= leads_prospected']\n",
            "m.yaml: constraint #1: bad check",
        ),
        (
            "m.yaml",
            "constraints: ['wins * demos <= 1']\n",
            "m.yaml: constraint #1: bad expression 'wins * demos ': multiply a column by a number",
        ),
        (
            "m.yaml",
            "constraints: ['no_shows <= demos']\n",
            "m.yaml: constraint #1 'no_shows <= demos': unknown column 'no_shows'",
        ),
        (
            "m.yaml",
            "constraints: [{check: 'wins <= demos', pooled: maybe}]\n",
            "m.yaml: constraint #1: pooled: Input should be a valid boolean",
        ),
        (
            "m.yaml",
            "constraints: [{check: 'wins <= demos', why: x}]\n",
            "m.yaml: constraint #1: why: Extra inputs are not permitted",
        ),
        ("m.yaml", "constraints: [3]\n", "m.yaml: constraint #1: expected a check like"),
    ],
)
def test_broken_files_name_the_entry(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    error = str(info.value)
    assert error.startswith(str(tmp_path)), error
    assert message in error, error
    assert "\n" not in error


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "missing.yaml")
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CatalogueError, match="binary.yaml: cannot read"):
        load_catalogue(path)


def test_default_constraints_and_amounts() -> None:
    cat = load_catalogue()
    assert cat.amounts == ["revenue", "quota", "cycle_days", "inherited_revenue"]
    checks = {c.check: c.pooled for c in cat.constraints}
    assert checks == {
        "inherited_wins <= wins": False,
        "inherited_revenue <= revenue": False,
        "connects <= leads_prospected": True,
        "discovery_calls <= connects": True,
        "demos <= discovery_calls": True,
        "wins - inherited_wins <= demos": True,
    }
    own_wins = cat.constraints[-1]
    assert own_wins.sides == ({"wins": 1.0, "inherited_wins": -1.0}, {"demos": 1.0})
    assert own_wins.columns == {"wins", "inherited_wins", "demos"}
    # Every beta-binomial metric is a share of its denominator, so a constraint says so.
    for metric in cat.metrics:
        if metric.model == "beta_binomial" and metric.key != "win_rate":
            assert f"{metric.numerator} <= {metric.denominator}" in checks, metric.key


def test_constraints_extend_and_replace(tmp_path: Path) -> None:
    extended = load_catalogue(
        write(
            tmp_path,
            "m.yaml",
            "columns: [no_shows]\n"
            "amounts: [no_shows]\n"
            "constraints:\n"
            "  - no_shows <= demos\n"
            "  - {check: 'no_shows <= 2 * demos', pooled: true, reason: too many}\n"
            "  - {check: 'demos <= discovery_calls', reason: shorter}\n",  # shipped: reworded
        )
    )
    assert extended.amounts[-1] == "no_shows"
    assert [c.check for c in extended.constraints][-2:] == [
        "no_shows <= demos",
        "no_shows <= 2 * demos",
    ]
    assert len(extended.constraints) == len(load_catalogue().constraints) + 2
    assert extended.constraints[-1].reason == "too many"
    reworded = next(c for c in extended.constraints if c.check == "demos <= discovery_calls")
    assert (reworded.pooled, reworded.reason) == (False, "shorter")
    replaced = load_catalogue(
        write(
            tmp_path,
            "r.toml",
            'mode = "replace"\nconstraints = ["demos <= discovery_calls"]\n'
            '[[metrics]]\nkey = "wins"\nlabel = "Wins"\nkind = "activity"\n'
            'direction = "higher"\nnumerator = "wins"\n',
        )
    )
    assert [c.check for c in replaced.constraints] == ["demos <= discovery_calls"]
    kept = load_catalogue(
        write(
            tmp_path,
            "k.yaml",
            "mode: replace\nmetrics:\n  - {key: wins, label: Wins, kind: activity, "
            "direction: higher, numerator: wins}\n",
        )
    )
    assert kept.constraints == load_catalogue().constraints
