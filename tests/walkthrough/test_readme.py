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


#: A retraining a step stopped exits 1 ("a check failed", as the README says): the challenger
#: was not shown better, or failed its gates. Every other command must exit 0.
STOPPED = {"retrain": 1}


def walk(section: str, cwd: Path) -> dict[str, list[dict]]:
    """Run a README section in order; no traceback anywhere, every exit code as documented."""
    outputs: dict[str, list[dict]] = {}
    for command in readme_commands(section):
        done = run(command, cwd)
        shown = f"$ {shlex.join(command)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, shown
        payload = json.loads(done.stdout) if "--json" in command else {}
        if done.returncode == STOPPED.get(command[1]):
            assert payload.get("outcome") == "stopped", shown
        else:
            assert done.returncode == 0, shown
        outputs.setdefault(command[1], []).append(payload)
    return outputs


@pytest.fixture()
def fresh_folder(tmp_path: Path) -> Path:
    """An empty folder holding only what a fresh clone has beside the README: examples/."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def _retrain_outcomes(outputs: dict[str, list[dict]]) -> list[str]:
    return [run["outcome"] for run in outputs["retrain"]]


@pytest.mark.slow
def test_the_readme_walkthrough_goes_twice_round_the_loop_on_telco(fresh_folder):
    outputs = walk("telco", fresh_folder)
    assert outputs["train"][0]["model_version"] == "1"
    assert outputs["backfill"][0]["matched"] == 90 * 300
    rerun = run(["closedloop", "backfill", "--workdir", "work", "--labels",
                 "june-labels.parquet", "--json"], fresh_folder)
    assert json.loads(rerun.stdout)["matched"] == 0       # twice = once
    outcomes = _retrain_outcomes(outputs)
    assert set(outcomes) <= {"promoted", "stopped"} and "promoted" in outcomes, outcomes
    moves = outputs["history"][0]                         # every alias move, in order
    champions = [m["to_version"] for m in moves if m["alias"] == "champion"]
    assert champions[0] == "1" and champions[-1] not in (None, "1"), champions
    # The stored holdout of the new champion is what roi and validate judge it on.
    assert outputs["roi"][-1]["model"].endswith(f"v{champions[-1]}")


@pytest.mark.slow
def test_the_readme_walkthrough_goes_twice_round_the_loop_on_another_table(fresh_folder):
    outputs = walk("loans", fresh_folder)
    assert outputs["train"][0]["model_version"] == "1"
    scored = __import__("pandas").read_parquet(fresh_folder / "loans-june-scored.parquet")
    assert "surname" in scored.columns                     # carried through, never a feature
    assert set(_retrain_outcomes(outputs)) <= {"promoted", "stopped"}
    assert len(outputs["retrain"]) == 2                   # twice round the loop
