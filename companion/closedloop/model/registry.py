"""The model registry: an MLflow pyfunc that returns label and probability, aliases, audit.

Every model is logged as a :class:`ClosedLoopModel` pyfunc whose ``predict`` returns a frame with
``prediction`` (0/1 at the threshold chosen on validation, stored with the model) and
``prediction_proba``, validated against the data contract before anything is predicted.

Aliases ``challenger``, ``champion`` and ``previous_champion`` say which version plays which role.
:func:`~closedloop.model.promotion.promote` and :func:`~closedloop.model.promotion.rollback` move them as one crash-safe transaction: an intent record is
written first, the aliases move in an order where every prefix leaves the serving version with an
alias (``@previous_champion`` before ``@champion``, ``@challenger`` last), each move is appended
to the alias ledger (:mod:`closedloop.model.ledger`), and a transaction that a crash, a kill or an
unavailable store interrupted is finished or undone by :func:`~closedloop.model.promotion.recover`, which the next
:func:`~closedloop.model.promotion.promote`, :func:`~closedloop.model.promotion.rollback` or ``closedloop status`` runs first. Each committed move is
also recorded as tags on the version and as a run in the ``closedloop-registry`` experiment,
which :func:`~closedloop.model.promotion.audit_log` reads back.

:func:`~closedloop.model.promotion.promote` refuses a version whose latest quality-gate verdict (written by
:func:`closedloop.gates.version.log_gate_report`) is missing or failed, or was reached against
another champion than the current one, unless it is forced; a forced promotion says so in the
audit trail.

See Also
--------
Every function that names the registered model passes ``model_name`` through
:meth:`closedloop.config.Workspace.model_name` first: ``closedloop-churn`` in the folder's store,
``catalog.schema.closedloop_churn`` when the workspace's target is Unity Catalog.

Chapter :doc:`Training, tuning and the registry </book/03_training>`; chapter :doc:`Quality gates </book/04_quality_gates>` for gated promotion.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import pandas as pd

from closedloop.config import DEFAULT_MODEL_NAME, Workspace
from closedloop.contract.schema import Schema
from closedloop.model.baselines import PipelineModel
from closedloop.model.train import TrainConfig, TrainResult, retrain_with_params, train

CHALLENGER, CHAMPION, PREVIOUS_CHAMPION = "challenger", "champion", "previous_champion"
ALIASES = (CHALLENGER, CHAMPION, PREVIOUS_CHAMPION)
AUDIT_EXPERIMENT = "closedloop-registry"
TAG = "closedloop."
#: Model-version tag holding the latest gate verdict, ``passed`` or ``failed``.
GATE_VERDICT_TAG = f"{TAG}gate_verdict"
#: Prefix of the one tag per gate check (``closedloop.gate.<check>`` = ``passed`` or ``failed``).
GATE_CHECK_PREFIX = f"{TAG}gate."
#: Model-version tag naming the champion the gates compared the version with (``none``: none).
GATE_CHAMPION_TAG = f"{TAG}gate_champion"
#: Run artifacts every registered version carries (see :mod:`closedloop.model.holdout`).
CONTRACT_ARTIFACT = "contract/schema.json"
HOLDOUT_ARTIFACT = "holdout.parquet"
TRAIN_ARTIFACT = "train.parquet"
VALIDATION_ARTIFACT = "validation.parquet"

try:  # mlflow is a core dependency; the guard only keeps the class definable in light contexts
    with warnings.catch_warnings():
        # Importing MLflow imports tqdm.auto, which in a notebook kernel without ipywidgets warns
        # "IProgress not found" (and then uses the console bar): noise in every chapter.
        warnings.filterwarnings("ignore", message="IProgress not found")
        from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover
    PythonModel = object  # type: ignore[assignment,misc]


class ClosedLoopModel(PythonModel):
    """Pyfunc wrapper: contract check, then ``prediction`` and ``prediction_proba``."""

    def bind(self, pipeline: Any, threshold: float, schema: Schema) -> ClosedLoopModel:
        """Attach a fitted pipeline, its threshold and its contract (what loading does)."""
        self.pipeline, self.threshold, self.schema = pipeline, float(threshold), schema
        return self

    def load_context(self, context: Any) -> None:
        """Load the pipeline, threshold and schema logged as the model's artifacts."""
        meta = json.loads(Path(context.artifacts["meta"]).read_text())
        self.bind(joblib.load(context.artifacts["pipeline"]), meta["threshold"],
                  Schema.from_dict(meta["schema"]))

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Validate ``model_input`` against the contract, then return one row per input row with
        ``prediction`` (int64, 1 at or above the threshold) and ``prediction_proba`` (float64)."""
        # Columns beyond the features (ids, timestamps, the label) do not change a prediction,
        # so they are allowed; every feature column must honour the contract.
        return PipelineModel(self.pipeline, self.threshold, self.schema).predict(model_input)


class RegistryError(RuntimeError):
    """An alias move that cannot be done (no challenger, no previous champion, ...)."""


class NoRegistryError(RegistryError):
    """The workspace has no model registry yet (no ``mlflow.db`` in its folder)."""


def has_store(workspace: Workspace) -> bool:
    """Whether ``workspace`` has a model registry to read: its folder's ``mlflow.db`` exists,
    or its registry is elsewhere (a remote target, which always exists).

    Examples
    --------
    >>> import tempfile
    >>> has_store(Workspace.resolve(tempfile.mkdtemp()))
    False
    """
    return workspace.has_registry


def require_store(workspace: Workspace) -> None:
    """Refuse to read a workspace that has no model registry yet, before anything is created.

    Opening MLflow on a missing sqlite store would create ``mlflow.db`` (and
    :meth:`~closedloop.config.Workspace.client` the workspace's folders): a read on the wrong
    folder would leave an empty store behind and answer "nothing there".

    Raises
    ------
    NoRegistryError
        Naming the workspace folder.
    """
    if not has_store(workspace):
        raise NoRegistryError(
            f"no model registered in {workspace.root}: there is no model registry in that "
            "folder yet (no mlflow.db). Run closedloop train there first, or pass the "
            "workspace folder that holds the model")


def registry_client(workspace: Workspace) -> Any:
    """``workspace.client()`` for reading the registry, after :func:`require_store`."""
    require_store(workspace)
    return workspace.client()


@dataclass(frozen=True)
class AliasMove:
    """The record of one promotion or rollback (also the JSON the CLI prints)."""

    action: str
    model_name: str
    version: str
    previous_version: str | None
    reason: str
    at: str
    aliases_before: dict[str, str]
    aliases_after: dict[str, str]
    forced: bool = False
    gate_verdict: str | None = None
    txn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def log_model(result: TrainResult, schema: Schema, example: pd.DataFrame) -> Any:
    """Log ``result`` as a :class:`ClosedLoopModel` in the active MLflow run; return its info."""
    import mlflow
    from mlflow.models import infer_signature

    features = example[schema.feature_names].head(5)
    with tempfile.TemporaryDirectory() as tmp:
        pipeline_path = Path(tmp) / "pipeline.joblib"
        meta_path = Path(tmp) / "meta.json"
        joblib.dump(result.pipeline, pipeline_path)
        meta_path.write_text(json.dumps({
            "threshold": result.threshold, "schema": schema.to_dict(), "params": result.params,
        }, indent=1))
        output = ClosedLoopModel().bind(result.pipeline, result.threshold, schema)
        with warnings.catch_warnings():
            # MLflow's hint that int columns cannot hold nulls: the contract already forbids them.
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            signature = infer_signature(features, output.predict(None, features))
            return mlflow.pyfunc.log_model(
                name="model", python_model=str(Path(__file__).with_name("_pyfunc_entry.py")),
                signature=signature,
                artifacts={"pipeline": str(pipeline_path), "meta": str(meta_path)},
                input_example=features, pip_requirements=_requirements(),
            )


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in
            ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "joblib")]


def train_and_register(df: pd.DataFrame, schema: Schema, workspace: Workspace,
                       config: TrainConfig = TrainConfig(), *,
                       model_name: str = DEFAULT_MODEL_NAME, data_source: str = "",
                       params: dict[str, Any] | None = None, progress: bool = False,
                       **train_kwargs: Any) -> TrainResult:
    """Train inside an MLflow run, log the pyfunc with lineage, register it as ``@challenger``.

    With ``params=None`` hyperparameters are tuned (``config.n_trials`` trials, each a nested
    run); with ``params`` given (e.g. :func:`model_params` of the champion) they are reused as
    they are, through :func:`closedloop.model.train.retrain_with_params`.

    The run also stores the contract, the holdout (the test split), the training rows (train and
    validation splits) and the validation rows (:func:`log_contract`), so the version can be
    judged, monitored and retrained later without the table it was trained on.
    """
    import mlflow

    from closedloop.model.train import split_data

    with workspace.mlflow(), mlflow.start_run(run_name=f"train-{schema.name}") as run:
        log_lineage(df, schema, data_source)
        if params is None:
            result = train(df, schema, config, log_trials=True, progress=progress, **train_kwargs)
        else:
            result = retrain_with_params(df, schema, params, config, **train_kwargs)
        mlflow.log_params({**result.params, "threshold": result.threshold,
                           **{f"config.{k}": v for k, v in vars(config).items()}})
        mlflow.log_metrics({f"test_{k}": v for k, v in result.metrics.items()})
        mlflow.log_metrics({f"valid_{k}": v for k, v in result.valid_metrics.items()})
        mlflow.log_metrics({k: v for k, v in result.split_summary.items()})
        if len(result.trials):
            mlflow.log_table(result.trials, "hpo_trials.json")
        info = log_model(result, schema, df)
        splits = split_data(df, schema, config)  # the split train() made: same rows, same order
        log_contract(schema, splits.test, pd.concat([splits.train, splits.valid],
                                                    ignore_index=True), splits.valid)
        result.run_id = run.info.run_id
    result.model_version = register(workspace, info.model_uri, result, model_name=model_name)
    return result


def data_hash(df: pd.DataFrame) -> str:
    """Fingerprint of a table, as logged for lineage: SHA-256 of its row hashes in order.

    Row order matters (a shuffled copy has another hash, and would split into another holdout);
    the index does not.

    Examples
    --------
    >>> df = pd.DataFrame({"a": [1, 2, 3]})
    >>> data_hash(df) == data_hash(df.set_axis([7, 8, 9]))
    True
    >>> data_hash(df) == data_hash(df.iloc[::-1])
    False
    """
    import hashlib

    rows = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(rows.tobytes()).hexdigest()


def legacy_data_hash(df: pd.DataFrame) -> str:
    """The 16-digit hash logged before :func:`data_hash` (sum of row hashes, order-insensitive);
    only to recognise the training table of a version registered then."""
    digest = int(pd.util.hash_pandas_object(df, index=False).sum())
    return f"{digest & (2**64 - 1):016x}"


def log_contract(schema: Schema, holdout: pd.DataFrame, train_rows: pd.DataFrame,
                 validation: pd.DataFrame | None = None) -> None:
    """Log a version's contract and data as artifacts of the active MLflow run.

    ``contract/schema.json`` (``schema.to_dict()``), ``holdout.parquet`` (its test rows),
    ``train.parquet`` (the rows it was trained on) and, if given, ``validation.parquet``; each
    table keeps the contract's columns (target and entity id included), in its order.
    """
    import mlflow

    def contract_columns(df: pd.DataFrame) -> pd.DataFrame:
        return df[[c for c in schema.names if c in df.columns]].reset_index(drop=True)

    tables = {HOLDOUT_ARTIFACT: holdout, TRAIN_ARTIFACT: train_rows,
              VALIDATION_ARTIFACT: validation}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "schema.json").write_text(json.dumps(schema.to_dict(), indent=1))
        mlflow.log_artifact(str(folder / "schema.json"), str(Path(CONTRACT_ARTIFACT).parent))
        for name, table in tables.items():
            if table is not None:
                contract_columns(table).to_parquet(folder / name, index=False)
                mlflow.log_artifact(str(folder / name))


def log_lineage(df: pd.DataFrame, schema: Schema, source: str) -> None:
    """Log ``df`` as the training input of the active MLflow run, with its rows and hash as tags."""
    import mlflow

    with warnings.catch_warnings():
        # MLflow hints that int columns cannot hold nulls (the contract already forbids them) and
        # cannot tell what kind of source a free-text description is (it goes in a tag instead).
        warnings.filterwarnings("ignore", category=UserWarning)
        dataset = mlflow.data.from_pandas(df, source=source if Path(source).is_file() else None,
                                          name=schema.name, targets=schema.target)
        mlflow.log_input(dataset, context="training")
    mlflow.set_tags({f"{TAG}data.rows": len(df), f"{TAG}data.hash": data_hash(df),
                     f"{TAG}data.source": source or "in-memory", f"{TAG}schema": schema.name})


def register(workspace: Workspace, model_uri: str, result: TrainResult, *,
             model_name: str = DEFAULT_MODEL_NAME, alias: str = CHALLENGER) -> str:
    """Create a model version from ``model_uri``, tag it with its metrics and hyperparameters,
    and set ``alias`` on it. Returns the version number as a string."""
    model_name = workspace.model_name(model_name)
    client = workspace.client()
    if not registered_model_exists(client, model_name):
        client.create_registered_model(model_name)
    # The sqlite store resolves a `models:/m-...` source through the global tracking URI.
    with workspace.mlflow():
        version = client.create_model_version(model_name, model_uri, run_id=result.run_id).version
    tags = {f"{TAG}test_metrics": json.dumps(result.metrics),
            f"{TAG}hyperparameters": json.dumps(result.params),
            f"{TAG}threshold": str(result.threshold)}
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    client.set_registered_model_alias(model_name, alias, version)
    return str(version)


def registered_model_exists(client: Any, model_name: str) -> bool:
    """Whether ``client``'s registry holds ``model_name``: asked by name, which both the sqlite
    store and Unity Catalog answer (Unity Catalog refuses a ``filter_string`` search)."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model_name)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return False
        raise
    return True


def aliases(workspace: Workspace, model_name: str = DEFAULT_MODEL_NAME) -> dict[str, str]:
    """Current ``alias -> version`` of the registered model (empty if it does not exist).

    The store as it is: if a promotion or rollback was interrupted, this may be a state in the
    middle of it (still one where the serving version has an alias). Call :func:`~closedloop.model.promotion.recover` first
    when the answer must be consistent.
    """
    if not has_store(workspace):  # no store yet: none, and none created by asking
        return {}
    model_name = workspace.model_name(model_name)
    client = workspace.client()
    if not registered_model_exists(client, model_name):
        return {}
    return {k: str(v) for k, v in client.get_registered_model(model_name).aliases.items()}


def load_model(workspace: Workspace, alias: str = CHAMPION, *,
               model_name: str = DEFAULT_MODEL_NAME) -> Any:
    """Load ``models:/<model_name>@<alias>`` as a pyfunc; a version number instead of an alias
    (``"3"``) loads that version.

    Read only: the model is copied to a temporary folder and loaded from there (MLflow would
    otherwise write a ``registered_model_meta`` file into the stored model's own folder of a
    local store at every load).
    """
    import mlflow

    model_name = workspace.model_name(model_name)
    ref = f"{model_name}/{alias}" if str(alias).isdigit() else f"{model_name}@{alias}"
    require_store(workspace)
    with workspace.mlflow(), tempfile.TemporaryDirectory(prefix="closedloop-model-") as tmp:
        return mlflow.pyfunc.load_model(f"models:/{ref}", dst_path=tmp)


def model_params(workspace: Workspace, alias: str = CHAMPION, *,
                 model_name: str = DEFAULT_MODEL_NAME) -> dict[str, Any]:
    """The hyperparameters stored with the version behind ``alias`` (typed, from JSON)."""
    version = registry_client(workspace).get_model_version_by_alias(
        workspace.model_name(model_name), alias)
    return json.loads(version.tags[f"{TAG}hyperparameters"])


def versions(workspace: Workspace, model_name: str = DEFAULT_MODEL_NAME) -> pd.DataFrame:
    """One row per version: aliases, threshold and holdout metrics (no rows when
    ``model_name`` is not registered).

    Raises
    ------
    NoRegistryError
        When the workspace has no model registry (nothing is created).
    """
    model_name = workspace.model_name(model_name)
    client = registry_client(workspace)
    roles = {}
    for alias, version in aliases(workspace, model_name).items():
        roles.setdefault(version, []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name = '{model_name}'"):
        metrics = json.loads(mv.tags.get(f"{TAG}test_metrics", "{}"))
        rows.append({"version": str(mv.version), "aliases": ",".join(roles.get(str(mv.version), [])),
                     "threshold": float(mv.tags.get(f"{TAG}threshold", "nan")),
                     **{f"test_{k}": v for k, v in metrics.items()}, "run_id": mv.run_id})
    table = pd.DataFrame(rows)
    return table.sort_values("version", key=lambda v: v.astype(int)).reset_index(drop=True) \
        if len(table) else table


# Promotion and rollback live in closedloop.model.promotion; these names stay reachable here
# (``registry.promote(...)``) without an import cycle.
_PROMOTION = ("promote", "rollback", "recover", "Recovery", "audit_log", "gate_problem",
              "MOVE_ORDER", "ROLLED_FORWARD", "UNDONE")


def __getattr__(name: str) -> Any:
    if name in _PROMOTION:
        from closedloop.model import promotion

        return getattr(promotion, name)
    raise AttributeError(f"module 'closedloop.model.registry' has no attribute {name!r}")
