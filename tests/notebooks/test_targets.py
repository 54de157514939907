"""Every chapter takes a ``target`` parameter; its ``"databricks"`` branch builds a workspace one.

No chapter is executed whole with ``target="databricks"`` (MLflow's ``databricks`` tracking
cannot run offline). Instead each chapter's own code is run in part: its parameters cell, with
``target="databricks"``, and the statement of its setup cell that builds ``workspace`` (with the
imports of that cell); the workspace must then be one on Databricks: tracking ``databricks``,
registry ``databricks-uc``, Unity Catalog model names, the Delta inference log, and the host of
``$DATABRICKS_HOST`` (pointed at the stand-in workspace). Chapter 11, the one chapter that calls
the SDK, runs its ``target="databricks"`` cells (client, monitor, wait, refresh, report) against
the stand-in (:class:`closedloop.platform.fake_workspace.FakeWorkspace`).
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"
CHAPTERS = sorted(p for p in BOOK.glob("*.ipynb") if p.name[:2].isdigit())
NO_STATE = [p for p in CHAPTERS if p.name[:2] in ("01", "02")]
#: Chapters that break things on purpose on this machine (killed processes): local only.
LOCAL_ONLY = [p for p in CHAPTERS if p.name[:2] in ("13",)]
WITH_WORKSPACE = [p for p in CHAPTERS if p not in NO_STATE + LOCAL_ONLY
                  and not p.name.startswith("11")]
ON_DATABRICKS = {"target": "databricks", "catalog": "ml", "schema_name": "churn"}


def _cells(chapter: Path) -> list[dict]:
    return json.loads(chapter.read_text())["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _parameters_cell(chapter: Path) -> dict:
    found = [c for c in _cells(chapter) if "parameters" in c["metadata"].get("tags", [])]
    assert len(found) == 1, f"{chapter.name}: {len(found)} cells tagged parameters"
    return found[0]


def parameters(chapter: Path, **overrides) -> dict:
    """The chapter's parameters as its parameters cell sets them, then ``overrides`` (what
    papermill's injected cell does)."""
    values: dict = {}
    exec(compile(_source(_parameters_cell(chapter)), chapter.name, "exec"), values)
    values.pop("__builtins__", None)
    return {**values, **overrides}


def build_workspace(chapter: Path, **overrides):
    """Run the chapter's parameters, then its setup cell's imports and the statement that
    assigns ``workspace``; return that workspace and the parameters."""
    for cell in _cells(chapter):
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse(_source(cell))
        assigns = [n for n in tree.body if isinstance(n, ast.Assign)
                   and any(isinstance(t, ast.Name) and t.id == "workspace" for t in n.targets)]
        if assigns:
            imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
            namespace = parameters(chapter, **overrides)
            module = ast.Module(body=[*imports, assigns[0]], type_ignores=[])
            exec(compile(module, chapter.name, "exec"), namespace)
            return namespace["workspace"], namespace
    raise AssertionError(f"{chapter.name}: no code cell assigns `workspace`")


@pytest.fixture()
def on_fake(monkeypatch, tmp_path):
    """A stand-in workspace, and the environment a workspace notebook sees, pointing at it."""
    pytest.importorskip("databricks.sdk")
    from closedloop.platform.fake_workspace import FakeWorkspace

    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_", "CLOSEDLOOP_")):
            monkeypatch.delenv(name)
    fake = FakeWorkspace(activate_after=2).start()
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("DATABRICKS_HOST", fake.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", fake.token)
    yield fake
    fake.stop()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_every_chapter_declares_target_local_by_default(chapter):
    values = parameters(chapter)
    assert values.get("target") == "local", f"{chapter.name}: target parameter"
    if chapter in WITH_WORKSPACE or chapter.name.startswith("11"):
        assert {"catalog", "schema_name"} <= set(values), chapter.name


@pytest.mark.parametrize("chapter", LOCAL_ONLY, ids=[c.stem for c in LOCAL_ONLY])
def test_a_local_only_chapter_refuses_databricks_before_it_touches_anything(chapter):
    """Its setup cell checks ``target`` before building its workspace: on ``databricks`` it
    stops with an error naming the parameter, instead of killing processes somewhere else."""
    for cell in _cells(chapter):
        tree = ast.parse(_source(cell)) if cell["cell_type"] == "code" else None
        guards = [n for n in (tree.body if tree else []) if isinstance(n, ast.If)
                  and "target" in ast.unparse(n.test)]
        if guards:
            module = ast.Module(body=guards[:1], type_ignores=[])
            with pytest.raises(ValueError, match="target='databricks'"):
                exec(compile(module, chapter.name, "exec"), parameters(chapter, **ON_DATABRICKS))
            exec(compile(module, chapter.name, "exec"), parameters(chapter))  # local: passes
            return
    raise AssertionError(f"{chapter.name}: no cell checks `target`")


@pytest.mark.parametrize("chapter", NO_STATE, ids=[c.stem for c in NO_STATE])
def test_a_chapter_that_keeps_no_state_builds_no_workspace(chapter):
    """Chapters 1 and 2 take ``target`` (so one command runs every chapter on either target)
    and say it changes nothing there: they build no workspace, open no log, call no registry."""
    code = "\n".join(_source(c) for c in _cells(chapter) if c["cell_type"] == "code")
    for name in ("Workspace", "InferenceLog", "registry", "mlflow", "Target"):
        assert name not in code, f"{chapter.name} uses {name}: pass the target to it"


@pytest.mark.parametrize("chapter", WITH_WORKSPACE, ids=[c.stem for c in WITH_WORKSPACE])
def test_the_databricks_branch_builds_a_workspace_on_databricks(chapter, on_fake, tmp_path):
    from closedloop.config import DEFAULT_MODEL_NAME
    from closedloop.monitoring.store import InferenceLog
    from closedloop.platform.delta_log import DeltaInferenceLog

    workspace, values = build_workspace(chapter, workdir=str(tmp_path / "ws"), **ON_DATABRICKS)
    assert (workspace.tracking_uri, workspace.registry_uri) == ("databricks", "databricks-uc")
    assert workspace.target.host == on_fake.url
    model = values.get("model_name", DEFAULT_MODEL_NAME)
    assert workspace.model_name(model) == "ml.churn." + model.replace("-", "_")
    assert workspace.experiment_name().startswith("/Shared/")
    assert type(InferenceLog(workspace)) is DeltaInferenceLog
    assert InferenceLog(workspace).predictions_table == "ml.churn.inference_log"
    assert not (tmp_path / "ws").exists()  # building it touched neither folder nor network
    assert on_fake.calls("GET", "/") == 0


@pytest.mark.parametrize("chapter", WITH_WORKSPACE, ids=[c.stem for c in WITH_WORKSPACE])
def test_the_local_branch_is_the_folder_as_before(chapter, tmp_path):
    from closedloop.config import DEFAULT_MODEL_NAME, Workspace
    from closedloop.monitoring.store import InferenceLog

    workspace, values = build_workspace(chapter, workdir=str(tmp_path / "ws"))
    plain = Workspace.resolve(tmp_path / "ws")
    own = {"08": "retraining", "12": "your-table"}  # workspaces of their own, beside the others
    if chapter.name[:2] in own:
        plain = Workspace.resolve(plain.root / own[chapter.name[:2]])
    assert workspace.root == plain.root
    assert workspace.tracking_uri == workspace.registry_uri == plain.store_uri
    model = values.get("model_name", DEFAULT_MODEL_NAME)
    assert workspace.model_name(model) == model
    assert type(InferenceLog(workspace)) is InferenceLog


def test_chapter_11_runs_its_databricks_cells_against_the_stand_in(on_fake, tmp_path,
                                                                   monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    chapter = next(p for p in CHAPTERS if p.name.startswith("11"))
    cells = [c for c in _cells(chapter) if c["cell_type"] == "code"]
    start = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    end = next(i for i, c in enumerate(cells) if "decide(report)" in _source(c))
    on_fake.add_table("ml.churn.inference_log")  # on a workspace, the tables exist
    on_fake.add_table("ml.churn.baseline")
    monkeypatch.chdir(BOOK)
    namespace = parameters(chapter, workdir=str(tmp_path / "ws"), warehouse_id="wh-1",
                           poll_interval=0.01, timeout=30.0, **ON_DATABRICKS)
    for cell in cells[start + 1:end + 1]:
        exec(compile(_source(cell), chapter.name, "exec"), namespace)
    assert namespace["stand_in"] is None  # the databricks branch: no stand-in of its own
    assert namespace["client"].config.host == on_fake.url
    posts = [path for method, path, _, _ in on_fake.requests if method == "POST"]
    assert posts.count("/api/data-quality/v1/monitors") == 1  # created once
    assert sum(p.endswith("/refreshes") for p in posts) == 1  # refreshed once
    assert namespace["ready"].status.name == "DATA_PROFILING_STATUS_ACTIVE"
    assert namespace["done"].state.name == "MONITOR_REFRESH_STATE_SUCCESS"
    assert len(namespace["report"].drift) > 0
