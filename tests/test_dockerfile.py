"""The Dockerfile's steps, reproduced without Docker (which can't run here): build the wheelhouse
from exactly the files the image copies, install it into a clean virtual environment with no
index, and run the image's entrypoint until its health check answers.

That takes half a minute, so it runs when what decides the image differs from the fingerprint
of the last pass, kept in `tests/dockerfile.sha256`: `Dockerfile` and `pyproject.toml`, and of
the source the image copies, each file's path and the modules it imports (a file the wheel
would leave out, or an import only the development environment has, breaks the image and no
other test). A pass records the new fingerprint, to be committed with the change.
`COACH_TEST_DOCKERFILE=1` runs it regardless."""

from __future__ import annotations

import ast
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from hashlib import sha256
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
FINGERPRINT_FILE = ROOT / "tests" / "dockerfile.sha256"


def copied_folders() -> list[str]:
    """The source folders the image's build stage copies."""
    lines = re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M)
    return [name for line in lines for name in line.split() if (ROOT / name).is_dir()]


def imports(path: Path) -> set[str]:
    """The top-level modules a Python file imports (absolute imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def fingerprint(root: Path = ROOT) -> str:
    """The hash of what decides the image: the Dockerfile, the project's metadata, and each
    copied source file's path and imports (not its code: the rest of the suite tests that)."""
    digest = sha256()
    for name in ("Dockerfile", "pyproject.toml"):
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    for folder in copied_folders():
        for path in sorted((root / folder).rglob("*")):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            if path.suffix == ".py":
                digest.update(" ".join(sorted(imports(path))).encode() + b"\0")
    return digest.hexdigest()


def checked() -> bool:
    """Whether the image's steps passed with what decides the image as it is."""
    recorded = FINGERPRINT_FILE.read_text().strip() if FINGERPRINT_FILE.exists() else ""
    return recorded == fingerprint() and os.environ.get("COACH_TEST_DOCKERFILE") != "1"


def test_the_image_is_small_non_root_and_checks_its_health() -> None:
    stages = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert stages == ["python:3.11-slim", "python:3.11-slim"]  # wheels built apart from the image
    final = DOCKERFILE.split("\nFROM ")[-1]
    assert re.search(r"^USER (?!root)\S+", final, re.M)
    assert "--no-cache-dir" in final and "rm -rf /wheels" in final
    assert "HEALTHCHECK" in final and "/healthz" in final
    assert re.search(r'^ENTRYPOINT \["coach"\]', final, re.M)
    assert re.search(r'^CMD \["serve", "--port", "3000"\]', final, re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_fingerprint_follows_what_can_break_the_image(tmp_path: Path) -> None:
    for name in ("Dockerfile", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in copied_folders():
        shutil.copytree(
            ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    before = fingerprint(tmp_path)
    assert before == fingerprint() and "bot" in copied_folders()
    (tmp_path / "README.md").write_text("changed")
    logs = tmp_path / "bot" / "logs.py"
    logs.write_text(logs.read_text() + "\nWHY = 42\n")  # code, no new import: the suite's
    assert fingerprint(tmp_path) == before
    changes = [
        (tmp_path / "Dockerfile", "\n"),
        (tmp_path / "pyproject.toml", "\n"),
        (logs, "import hypothesis\n"),  # only the development environment has it
        (tmp_path / "bot" / "data.yaml", "a: 1\n"),  # a file to ship
    ]
    for path, added in changes:
        path.write_text((path.read_text() if path.exists() else "") + added)
        assert fingerprint(tmp_path) != before
        before = fingerprint(tmp_path)


@pytest.mark.skipif(
    checked(),
    reason="what decides the image is unchanged since its steps last passed "
    "(tests/dockerfile.sha256); COACH_TEST_DOCKERFILE=1 runs them",
)
def test_the_image_steps_in_a_clean_virtual_environment(tmp_path: Path) -> None:
    # Stage one: only what the Dockerfile COPYs, then `pip wheel` as it runs it.
    src = tmp_path / "src"
    src.mkdir()
    for line in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M):
        for name in line.split():
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(path, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), str(src)],
        check=True,
        timeout=600,
    )
    # Stage two: a clean environment, the wheelhouse only (no index, no pip configuration
    # that could add a wheel directory: it must be complete). The environment gets no pip of
    # its own (this one installs into it) and no byte-compiled files: compiling every module of
    # numpy, scipy, pandas and matplotlib was most of this test's time, and the image's
    # PYTHONDONTWRITEBYTECODE says it runs without them too.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    subprocess.run(
        [*pip, "--quiet", "--no-index", "--no-compile", *map(str, wheels.glob("*.whl"))],
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
        check=True,
        timeout=600,
    )
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COACH_", "SLACK_"))}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{data / 'coach.db'}",
            "SLACK_BOT_TOKEN": "xoxb-image",
            "SLACK_SIGNING_SECRET": "secret",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",  # nothing is due: the tick calls no one
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    server = subprocess.Popen(
        [str(venv / "bin" / "coach"), "serve", "--port", str(port)],
        cwd=data,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as r:
                    assert r.status == 200
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(server.communicate()[0]) from None
                time.sleep(0.2)
        assert (data / "coach.db").exists()  # the entrypoint migrated before it listened
    finally:
        server.terminate()
        server.wait(timeout=10)
    FINGERPRINT_FILE.write_text(fingerprint() + "\n")
