"""The Dockerfile's steps, reproduced without Docker (which can't run here): build the wheelhouse
from exactly the files the image copies, install it into a clean virtual environment with no
index, and run the image's entrypoint until its health check answers.

That takes half a minute, so it runs when `Dockerfile` or `pyproject.toml` (what decides the
image's contents) differ from the fingerprint of the last pass, kept in
`tests/dockerfile.sha256`: a pass records the new fingerprint, to be committed with the change.
`COACH_TEST_DOCKERFILE=1` runs it regardless."""

from __future__ import annotations

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


def fingerprint(root: Path = ROOT) -> str:
    """The hash of what decides the image: the Dockerfile and the project's metadata."""
    digest = sha256()
    for name in ("Dockerfile", "pyproject.toml"):
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()


def checked() -> bool:
    """Whether the image's steps passed with the Dockerfile and pyproject.toml as they are."""
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


def test_the_fingerprint_follows_the_dockerfile_and_pyproject_only(tmp_path: Path) -> None:
    for name in ("Dockerfile", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    before = fingerprint(tmp_path)
    assert before == fingerprint()
    (tmp_path / "README.md").write_text("changed")
    assert fingerprint(tmp_path) == before
    for name in ("Dockerfile", "pyproject.toml"):
        with (tmp_path / name).open("a") as f:
            f.write("\n")
        assert fingerprint(tmp_path) != before
        before = fingerprint(tmp_path)


@pytest.mark.skipif(
    checked(),
    reason="Dockerfile and pyproject.toml unchanged since the image's steps last passed "
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
