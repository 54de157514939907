"""Copy a workspace folder so that the copy is a workspace of its own.

A folder's MLflow store records absolute locations: each experiment's artifact location, each
run's artifact URI, each logged model's and each model version's storage location (all
``file:///<workdir>/artifacts/...``) and the ``artifact_path`` in each stored ``MLmodel``. A
plain ``shutil.copytree`` therefore gives a copy whose runs and models still read from, and
write into, the original folder: tests on copies would share artifacts, and a test that checks
"nothing written in the workdir" would not see writes that land in the original.

:func:`copy_workspace` copies the folder and rewrites every such location from the old folder to
the new one, in every text column of ``mlflow.db`` and in every ``MLmodel`` file.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path


def copy_workspace(source: Path, target: Path) -> Path:
    """Copy the workspace folder ``source`` to ``target`` (which must not exist) and point the
    copy's MLflow store at its own artifacts; return ``target``."""
    source, target = Path(source).resolve(), Path(target).resolve()
    shutil.copytree(source, target)
    old, new = f"{source}/", f"{target}/"
    store = target / "mlflow.db"
    if store.exists():
        con = sqlite3.connect(store)
        try:
            with con:
                tables = [r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    for column in [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]:
                        con.execute(
                            f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                            f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                            (old, new, old))
        finally:
            con.close()
    for mlmodel in target.rglob("MLmodel"):
        text = mlmodel.read_text()
        if old in text:
            mlmodel.write_text(text.replace(old, new))
    return target


def references_to(folder: Path, other: Path) -> list[str]:
    """The files under ``folder`` whose bytes mention the folder ``other`` (should be none
    after :func:`copy_workspace`)."""
    needle = f"{Path(other).resolve()}/".encode()
    return [str(p) for p in Path(folder).rglob("*") if p.is_file() and needle in p.read_bytes()]
