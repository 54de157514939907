"""The README's command-line section, run as a new user would type it, twice round the loop.

The commands are read from the README itself (the ``bash`` blocks between the
``walkthrough`` markers), so the README cannot drift from what works. They run in a fresh
folder, in order, through the installed ``closedloop`` command: on Telco, and on a second,
differently shaped table (integer target, numeric ids, a carried-through text column) with only
a schema file written by hand.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def readme_commands(section: str) -> list[list[str]]:
    """The commands of one walkthrough section of the README, continuation lines joined."""
    text = README.read_text()
    match = re.search(rf"<!-- walkthrough:{section} -->\s*```bash\n(.*?)```", text, re.S)
    assert match, f"README has no walkthrough:{section} block"
    joined = match.group(1).replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith("#"):
            commands.append(shlex.split(line))
    return commands


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    assert command[0] == "closedloop", command
    env = {k: v for k, v in os.environ.items() if k != "CLOSEDLOOP_WORKDIR"}
    return subprocess.run([sys.executable, "-m", "closedloop.cli", *command[1:]], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=900)


def walk(section: str, cwd: Path) -> dict[str, list[dict]]:
    """Run a README section; every command must exit 0 with no traceback."""
    outputs: dict[str, list[dict]] = {}
    for command in readme_commands(section):
        done = run(command, cwd)
        shown = f"$ {shlex.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert done.returncode == 0, shown
        assert "Traceback" not in done.stderr, shown
        payload = json.loads(done.stdout) if "--json" in command else {}
        outputs.setdefault(command[1], []).append(payload)
    return outputs
