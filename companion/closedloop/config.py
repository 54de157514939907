"""The workspace: the one folder that holds every piece of state the loop writes.

A :class:`Workspace` names the MLflow store (``mlflow.db`` + ``artifacts/``), the monitoring tables
(``tables/``) and the data cache. Nothing is created until :meth:`Workspace.create` is called, and
MLflow's process-wide tracking URI is only changed inside :meth:`Workspace.mlflow`, which restores it
on exit, so two workspaces in one process never interfere.

Where MLflow's tracking server and model registry are is the workspace's *target*: by default the
sqlite store in the folder; any object with ``tracking_uri(workspace)``,
``registry_uri(workspace)``, ``experiment_name(name)`` and ``model_name(name)``
(:class:`MlflowTarget`, e.g. :class:`closedloop.platform.target.Target`) may name others, such as
``databricks`` and ``databricks-uc`` with ``catalog.schema.model`` names. This module knows no
target by name; it only asks the target for URIs and names. Every registry function passes the
model name it is given through :meth:`Workspace.model_name`, so the same call names
``closedloop-churn`` in the folder's store and ``catalog.schema.closedloop_churn`` in Unity
Catalog.

See Also
--------
Chapter :doc:`Training, tuning and the registry </book/03_training>`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

WORKDIR_ENV = "CLOSEDLOOP_WORKDIR"
DEFAULT_WORKDIR = "closedloop-work"
DEFAULT_EXPERIMENT = "closedloop"
#: The registered model's name in the folder's store (``closedloop.model.registry`` default).
DEFAULT_MODEL_NAME = "closedloop-churn"


@runtime_checkable
class MlflowTarget(Protocol):
    """Where a workspace's MLflow state lives (:class:`closedloop.platform.target.Target` is one).

    Four methods: ``tracking_uri(workspace)``, the MLflow tracking URI for ``workspace`` (its
    :attr:`Workspace.store_uri` on a laptop); ``registry_uri(workspace)``, the model-registry
    URI; ``experiment_name(name)``, the experiment ``name`` (None: the default one) as the
    tracking server names it; ``model_name(name)``, the registered model ``name`` as the
    registry names it (it must map its own answers to themselves).
    """

    def tracking_uri(self, workspace: Workspace | None = None) -> str: ...

    def registry_uri(self, workspace: Workspace | None = None) -> str: ...

    def experiment_name(self, name: str | None = None) -> str: ...

    def model_name(self, name: str | None = None) -> str: ...


@dataclass(frozen=True)
class Workspace:
    """Paths of one closed-loop workspace.

    Parameters
    ----------
    root : Path
        The folder that holds everything. Relative paths are resolved against the current directory
        when the workspace is built, so a workspace keeps meaning the same folder after a ``chdir``.
    target : MlflowTarget, optional
        Where MLflow tracks runs and registers models (:class:`MlflowTarget`); None (the default)
        means this folder's sqlite store. The folder still holds the tables, data and scratch
        files whatever the target.

    Examples
    --------
    >>> ws = Workspace.resolve("/tmp/example-ws")
    >>> ws.tracking_uri
    'sqlite:////tmp/example-ws/mlflow.db'
    >>> ws.tables_dir.name
    'tables'
    """

    root: Path
    target: MlflowTarget | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).expanduser().resolve())

    @classmethod
    def resolve(cls, workdir: str | os.PathLike[str] | None = None,
                target: MlflowTarget | None = None) -> Workspace:
        """Pick the workspace: ``workdir`` if given, else ``$CLOSEDLOOP_WORKDIR``, else
        ``./closedloop-work``, with MLflow on ``target`` (None: the folder's store). Creates
        nothing."""
        chosen = workdir or os.environ.get(WORKDIR_ENV) or DEFAULT_WORKDIR
        return cls(Path(chosen), target)

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def store_uri(self) -> str:
        """The folder's own MLflow store (``sqlite:///<root>/mlflow.db``), whatever the target."""
        return f"sqlite:///{self.mlflow_db}"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: the target's, else :attr:`store_uri`."""
        return self.store_uri if self.target is None else self.target.tracking_uri(self)

    @property
    def registry_uri(self) -> str:
        """MLflow model-registry URI: the target's, else :attr:`store_uri`."""
        return self.store_uri if self.target is None else self.target.registry_uri(self)

    def experiment_name(self, name: str | None = None) -> str:
        """The experiment ``name`` (None: ``closedloop``) as the tracking server names it."""
        if self.target is None:
            return name or DEFAULT_EXPERIMENT
        return self.target.experiment_name(name)

    def model_name(self, name: str | None = None) -> str:
        """The registered model ``name`` (None: ``closedloop-churn``) as the registry names it:
        as is in the folder's store, the target's name otherwise (``catalog.schema.name`` in
        Unity Catalog). Idempotent, so a name may pass through it more than once.

        Examples
        --------
        >>> Workspace.resolve("/tmp/example-ws").model_name()
        'closedloop-churn'
        """
        if self.target is None:
            return name or DEFAULT_MODEL_NAME
        return self.target.model_name(name)

    @property
    def has_registry(self) -> bool:
        """Whether there is a model registry to ask: the folder's ``mlflow.db`` exists, or the
        registry is the target's (a remote one is never created by asking)."""
        return self.registry_uri != self.store_uri or self.mlflow_db.exists()

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def tables_dir(self) -> Path:
        """Monitoring tables (append-only Parquet batches queried with DuckDB)."""
        return self.root / "tables"

    @property
    def data_dir(self) -> Path:
        """Datasets the loop writes (simulated streams, prepared training sets)."""
        return self.root / "data"

    def create(self) -> Workspace:
        """Create the folders (idempotent) and return ``self``."""
        for folder in (self.root, self.artifacts_dir, self.tables_dir, self.data_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    @contextlib.contextmanager
    def mlflow(self, experiment: str | None = None) -> Iterator[str]:
        """Point MLflow at this workspace's tracking server and registry for the block.

        Creates the experiment (``experiment`` as :meth:`experiment_name` names it; None: the
        default one) if needed and yields its id; when the tracking server is the folder's own
        store, the experiment's artifacts are kept inside the folder too. The previous tracking
        and registry URIs are restored on exit.
        """
        import mlflow

        self.create()
        saved = _save_mlflow_uris()
        tracking_uri = self.tracking_uri
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        try:
            name = self.experiment_name(experiment)
            found = mlflow.get_experiment_by_name(name)
            location = ((self.artifacts_dir / name).as_uri()
                        if tracking_uri == self.store_uri else None)
            experiment_id = (found.experiment_id if found is not None
                             else mlflow.create_experiment(name, artifact_location=location))
            mlflow.set_experiment(experiment_id=experiment_id)
            yield experiment_id
        finally:
            _restore_mlflow_uris(saved)

    def client(self):  # -> mlflow.MlflowClient (imported lazily: mlflow is slow to import)
        """An ``MlflowClient`` bound to this workspace's tracking server and registry,
        independent of global state."""
        from mlflow import MlflowClient

        self.create()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)


_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _save_mlflow_uris() -> tuple[str | None, str | None, dict[str, str | None]]:
    # MLflow keeps "never set" (follow the environment / the tracking URI) apart from any value,
    # and mirrors a set URI into the environment; restoring must put back both, not a value.
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env = {name: os.environ.get(name) for name in _URI_ENV}
    return tracking_utils._tracking_uri, registry_utils._registry_uri, env


def _restore_mlflow_uris(saved: tuple[str | None, str | None, dict[str, str | None]]) -> None:
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils

    tracking, registry, env = saved
    mlflow.set_tracking_uri(tracking)
    registry_utils._registry_uri = registry
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def quiet_mlflow() -> None:
    """Silence MLflow's INFO logs and artifact-download progress bars in this process.

    Called explicitly by the chapters and the CLI (never at import): MLflow's chatter would
    otherwise bury the output a reader is meant to look at. The schema enforcement's
    "Found extra inputs ... will be ignored" warning is silenced too: scoring passes whole rows
    (ids, timestamps) on purpose and the model keeps only its features. So is tqdm's
    "IProgress not found" warning, printed in notebooks when MLflow or optuna first import it.
    """
    import logging

    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("mlflow.models.utils").setLevel(logging.ERROR)
    # MLflow (and optuna) import tqdm.auto, which in a notebook kernel without ipywidgets warns
    # "IProgress not found" (then uses the console bar): import it once here, quietly.
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import tqdm.auto  # noqa: F401
