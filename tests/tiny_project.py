"""Tiny copies of this project for end-to-end ``kedro run`` tests.

A copy changes only ``conf/local`` (as a user would): a 50-utterance demo corpus,
two folds, two epochs and a tiny network.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TINY_GLOBALS = """\
demo_corpus:
  n_utterances: 50
  n_speakers: 4
  seed: 11
"""
TINY_PARAMETERS = """\
cross_validation:
  n_folds: 2
training:
  epochs: 2
  patience: 1
model:
  speech:
    blocks:
      - {filters: 8, kernel_size: 3, pool_size: 2, dropout: 0.1}
  text: {embedding_dim: 8, filters: 8}
  fusion: {dense_units: [8]}
"""
TWO_VARIANTS = """
loss_variants:
  cross_entropy: {loss: cross_entropy}
  emotion_aware: {loss: emotion_aware}
"""


def copy_project(
    path: Path,
    parameters: str = TINY_PARAMETERS,
    catalog: str = "",
    globals_: str = TINY_GLOBALS,
) -> Path:
    """Copy the project's code and ``conf/base`` to ``path`` with a tiny conf/local."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "pyproject.toml", path)
    shutil.copytree(ROOT / "conf" / "base", path / "conf" / "base")
    shutil.copy(ROOT / "conf" / "logging.yml", path / "conf")
    (path / "logs").mkdir()
    local = path / "conf" / "local"
    local.mkdir()
    (local / "globals.yml").write_text(globals_)
    (local / "parameters.yml").write_text(parameters)
    (local / "catalog.yml").write_text(catalog)
    (path / "data" / "01_raw").mkdir(parents=True)
    shutil.copy(ROOT / "data/01_raw/emotion_similarity.csv", path / "data/01_raw")
    shutil.copytree(
        ROOT / "src", path / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    return path


def kedro(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the Kedro CLI in ``project`` (telemetry off); assert success if ``check``."""
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("KEDRO_ENV", None)
    result = subprocess.run(
        [sys.executable, "-m", "kedro", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def kedro_in_terminal(project: Path, *args: str, columns: int = 120) -> str:
    """Run the Kedro CLI in ``project`` attached to a pseudo-terminal; its output.

    Asserts that it succeeds. The output holds the terminal's control sequences.
    """
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name in ("KEDRO_ENV", "COLUMNS", "LINES", "TTY_COMPATIBLE", "TERM"):
        env.pop(name, None)
    env["TERM"] = "xterm-256color"
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "kedro", *args],
        cwd=project,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process has exited
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
        process.wait()
    output = b"".join(chunks).decode("utf-8", errors="replace")
    assert process.returncode == 0, output[-4000:]
    return output


def versions(path: Path) -> list[Path]:
    """The version folders of a versioned dataset, oldest first."""
    return sorted(p for p in path.iterdir() if p.is_dir())
