"""`coach demo`: a realistic org and a local Slack stand-in, played through the real code.

The command line finds `register` through the `coach.commands` entry point, so the running bot
(`bot.slack`, `bot.cadence`, `bot.coaching`, `bot.cli`) never imports this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add `coach demo` to the `coach` command line."""

    @app.command()
    def demo(
        folder: Annotated[Path, typer.Option(help="Where the demo's CSVs and database go.")] = Path(
            "demo"
        ),
    ) -> None:
        """Build a demo org, import it through the real import code, and show everyone's gaps."""
        from rich.console import Console

        from bot.demo.run import run_demo  # the demo's weight is paid only when it runs

        run_demo(folder, Console())
