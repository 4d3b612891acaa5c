"""Which part of the code may import which: the README's code map, enforced.

Every `import` and `from … import` in the tree is read with `ast`, at any depth (an import
inside a function counts as much as one at the top), and checked against the rules below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (folder or file, module prefixes it must never import, why)
RULES: list[tuple[str, tuple[str, ...], str]] = [
    ("analytics", ("bot", "storage", "slack_bolt", "slack_sdk", "sqlalchemy"), "pure computation"),
    ("storage", ("bot", "slack_bolt"), "data only; the bot depends on it, not the other way"),
    (
        "bot/coaching",
        ("slack_bolt", "slack_sdk", "bot.slack", "bot.cadence", "bot.cli", "bot.demo"),
        "use cases shared by Slack, the cadence and the CLI: no Slack, no Block Kit",
    ),
    (
        "bot/cadence",
        (
            "bot.slack.app",
            "bot.slack.listeners",
            "bot.slack.middleware",
            "bot.slack.server",
            "bot.cli",
            "bot.demo",
        ),
        "the cadence uses coaching/, Slack's blocks, client, installs and zones, never the Bolt app",
    ),
    ("bot/slack", ("bot.cadence", "bot.cli", "bot.demo"), "the Bolt app answers requests only"),
    ("bot/cli", ("bot.demo",), "the demo adds its command through an entry point"),
    ("bot/settings.py", ("bot.slack", "bot.coaching", "bot.cli", "bot.demo"), "read by all"),
    ("bot/logs.py", ("bot",), "read by all"),
    ("migrations", ("bot",), "the schema does not depend on the app"),
]


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports, relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _python_files(where: str) -> list[Path]:
    target = ROOT / where
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


def _matches(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(where: str, forbidden: tuple[str, ...]) -> list[str]:
    """`file: module` for every forbidden import under `where`."""
    return [
        f"{path.relative_to(ROOT)}: {module}"
        for path in _python_files(where)
        for module in sorted(imported_modules(path))
        if any(_matches(module, prefix) for prefix in forbidden)
    ]


@pytest.mark.parametrize(("where", "forbidden", "why"), RULES, ids=[r[0] for r in RULES])
def test_part_imports_only_what_it_may(where: str, forbidden: tuple[str, ...], why: str) -> None:
    assert _python_files(where), f"{where} is gone: update the code map and these rules"
    assert violations(where, forbidden) == [], why


def test_only_the_demo_tests_and_benchmarks_import_the_demo() -> None:
    allowed = (ROOT / "bot" / "demo", ROOT / "tests", ROOT / "benchmarks")
    # Hidden folders (.venv, .git, caches) hold no code of ours: walking a virtual
    # environment's site-packages took longer than the rest of this file's tests together.
    ours = [p for p in ROOT.iterdir() if not p.name.startswith(".")]
    files = [p for top in ours for p in ([top] if top.is_file() else top.rglob("*.py"))]
    offenders = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sorted(f for f in files if f.suffix == ".py")
        if not any(path.is_relative_to(folder) for folder in allowed)
        for module in imported_modules(path)
        if _matches(module, "bot.demo")
    ]
    assert offenders == []


def test_the_checker_sees_what_it_must(tmp_path: Path) -> None:
    """The rules would catch a lazy import, an `import x.y` and a relative import."""
    source = (
        "import slack_bolt.app\n"
        "def later():\n    from bot.demo.run import run_demo\n"
        "from ..slack import blocks\n"
    )
    module = tmp_path / "probe.py"
    module.write_text(source, encoding="utf-8")
    found = imported_modules(module, package="bot.coaching")
    assert {"slack_bolt.app", "bot.demo.run", "bot.slack.blocks"} <= found
