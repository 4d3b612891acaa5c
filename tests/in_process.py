"""`coach` run inside the test process, as a subprocess would see it.

A fresh interpreter costs a second or more of imports per call, and most command-line tests
only look at what a command prints and its exit status: the same `main()` runs here, with the
given environment, working directory and standard input, and what it writes is captured. The
console script itself still runs as a real process where that is what a test is about (the
image's entrypoint in test_dockerfile.py, `coach run` killed or racing in
test_cadence_processes.py, `coach --help`'s imports in test_fast_start.py).
"""

from __future__ import annotations

import io
import os
import sys
import traceback
from collections.abc import Mapping
from contextlib import chdir
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from bot.cli import main as cli


@dataclass(frozen=True)
class Ran:
    """What a `coach` call left: exit status, output as text (newlines as a text-mode pipe
    reads them) and standard output's raw bytes."""

    returncode: int
    stdout: str
    stderr: str
    raw_stdout: bytes


def _text(raw: bytes) -> str:
    return raw.decode().replace("\r\n", "\n").replace("\r", "\n")


def run_coach(
    *args: str,
    env: Mapping[str, str],
    cwd: Path | None = None,
    input: str = "",
) -> Ran:
    """Run `coach ARGS` with exactly `env` as the environment; never raises for the command's
    own failures (an uncaught exception is exit status 1 with its traceback, as in a process)."""
    saved_env, saved_argv = dict(os.environ), sys.argv
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    out, err = io.BytesIO(), io.BytesIO()
    # Held here: a wrapper that is collected closes the buffer under it.
    out_text = io.TextIOWrapper(out, encoding="utf-8", write_through=True)
    err_text = io.TextIOWrapper(err, encoding="utf-8", write_through=True)
    sys.stdout, sys.stderr = out_text, err_text
    sys.stdin = io.StringIO(input)
    sys.argv = ["coach", *args]
    os.environ.clear()
    os.environ.update(env)
    # A process's consoles take their width from its COLUMNS when they are made (xdist's workers
    # set COLUMNS=80 before coach is imported).
    saved_consoles = cli.out, cli.err
    cli.out, cli.err = Console(), Console(stderr=True)
    code: int = 0
    try:
        with chdir(cwd or Path.cwd()):
            cli.main()
    except SystemExit as exit_:
        status = exit_.code
        code = status if isinstance(status, int) else (0 if status is None else 1)
        if isinstance(status, str):
            sys.stderr.write(status + "\n")
    except Exception:
        traceback.print_exc()
        code = 1
    finally:
        out_text.flush()
        err_text.flush()
        raw_out, raw_err = out.getvalue(), err.getvalue()
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        cli.out, cli.err = saved_consoles
    return Ran(code, _text(raw_out), _text(raw_err), raw_out)
