"""The target switch: everything that differs between running the loop locally and on Databricks.

A :class:`Target` is a small frozen value naming where each piece of state lives:

==================  ==================================  ========================================
                    ``local`` (the default)             ``databricks``
==================  ==================================  ========================================
MLflow tracking     ``sqlite:///<workdir>/mlflow.db``   ``databricks``
model registry      the same sqlite store               ``databricks-uc`` (Unity Catalog)
model name          ``closedloop-churn``                ``<catalog>.<schema>.closedloop_churn``
inference log       Parquet batches under ``tables/``,  Delta table ``<catalog>.<schema>.<table>``
                    queried with DuckDB                 through Spark (``DeltaInferenceLog``)
engine              pandas/DuckDB, Spark ``local[*]``   the cluster's Spark session
monitoring          ``closedloop.monitoring``           the workspace's data-quality monitor
                                                        (:mod:`closedloop.platform.databricks`)
==================  ==================================  ========================================

It is built from parameters or environment variables (:meth:`Target.resolve`):
``CLOSEDLOOP_TARGET`` (``local`` or ``databricks``), ``CLOSEDLOOP_WORKDIR``, ``DATABRICKS_HOST``,
``CLOSEDLOOP_CATALOG``, ``CLOSEDLOOP_SCHEMA``, ``CLOSEDLOOP_MODEL``,
``CLOSEDLOOP_INFERENCE_TABLE``, ``CLOSEDLOOP_EXPERIMENT``, ``CLOSEDLOOP_WAREHOUSE_ID``. A
parameter wins over the environment, which wins over the default.

Nothing else in the package needs to know the target; this value names everything that differs:

- :class:`closedloop.config.Workspace` takes it as ``target`` (it satisfies
  :class:`closedloop.config.MlflowTarget`) and asks it for ``tracking_uri(workspace)``,
  ``registry_uri(workspace)`` and ``experiment_name(name)`` in ``Workspace.mlflow`` and
  ``Workspace.client``; the experiment's artifacts stay in the folder only when the tracking
  server is the folder's own store;
- model code passes names through ``target.model_name(name)`` (every registry function calls
  :meth:`closedloop.config.Workspace.model_name`, which asks the target), so the registry
  module keeps saying ``closedloop-churn`` locally and gets ``catalog.schema.closedloop_churn``
  in Unity Catalog (whose names allow no hyphen);
- the CLI's common options ``--target {local,databricks}``, ``--catalog`` and ``--schema-name``
  (default ``$CLOSEDLOOP_TARGET``, ...) are fed to ``Target.resolve`` where the command's
  workspace is built; ``closedloop-databricks monitor`` (:mod:`closedloop.platform.jobs`) calls
  :class:`~closedloop.platform.databricks.DatabricksMonitor` when ``target.monitoring ==
  "data_quality"``.

See Also
--------
Chapter :doc:`From laptop to workspace </book/11_laptop_to_workspace>`.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from closedloop.config import DEFAULT_EXPERIMENT, DEFAULT_MODEL_NAME, WORKDIR_ENV, Workspace

#: The targets the loop runs on.
TARGETS: tuple[str, ...] = ("local", "databricks")
#: Environment variable that picks the target.
TARGET_ENV = "CLOSEDLOOP_TARGET"
#: Field -> environment variable read by :meth:`Target.resolve`.
ENV: Mapping[str, str] = {
    "workdir": WORKDIR_ENV, "host": "DATABRICKS_HOST", "catalog": "CLOSEDLOOP_CATALOG",
    "schema": "CLOSEDLOOP_SCHEMA", "model": "CLOSEDLOOP_MODEL",
    "inference_table": "CLOSEDLOOP_INFERENCE_TABLE", "experiment": "CLOSEDLOOP_EXPERIMENT",
    "warehouse_id": "CLOSEDLOOP_WAREHOUSE_ID",
}
_LOCAL_MODEL = DEFAULT_MODEL_NAME
_UC_MODEL = "closedloop_churn"  # Unity Catalog names: letters, digits, underscores
_INFERENCE_TABLE = "inference_log"  # closedloop.monitoring.store.PREDICTIONS_TABLE
_UC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Target:
    """Where the loop runs and where each of its pieces of state lives.

    Parameters
    ----------
    name : {"local", "databricks"}
        The target.
    workdir : str, optional
        Local workspace folder (``local`` only; default ``$CLOSEDLOOP_WORKDIR`` or
        ``./closedloop-work``).
    host : str, optional
        Workspace URL (``databricks``; the SDK also reads ``DATABRICKS_HOST`` itself).
    catalog, schema : str, optional
        Unity Catalog catalog and schema of the model and the tables (required on
        ``databricks``).
    model : str, optional
        Short model name; default ``closedloop-churn`` locally, ``closedloop_churn`` in Unity
        Catalog.
    inference_table : str
        Short name of the inference log table.
    experiment : str, optional
        MLflow experiment; default ``closedloop`` locally, ``/Shared/closedloop`` on Databricks.
    warehouse_id : str, optional
        SQL warehouse that reads the monitor's metric tables (``databricks``).

    Examples
    --------
    >>> local = Target.resolve("local", workdir="/tmp/example-ws")
    >>> local.tracking_uri(), local.model_name(), local.monitoring
    ('sqlite:////tmp/example-ws/mlflow.db', 'closedloop-churn', 'local')
    >>> uc = Target.resolve("databricks", catalog="ml", schema="churn", host="https://x.net")
    >>> uc.tracking_uri(), uc.registry_uri(), uc.model_name(), uc.inference_table_name()
    ('databricks', 'databricks-uc', 'ml.churn.closedloop_churn', 'ml.churn.inference_log')
    """

    name: str = "local"
    workdir: str | None = None
    host: str | None = None
    catalog: str | None = None
    schema: str | None = None
    model: str | None = None
    inference_table: str = _INFERENCE_TABLE
    experiment: str | None = None
    warehouse_id: str | None = None

    def __post_init__(self) -> None:
        if self.name not in TARGETS:
            raise ValueError(f"unknown target {self.name!r}: expected one of {TARGETS} "
                             f"(argument or ${TARGET_ENV})")
        if self.name == "databricks":
            missing = [f"{f} (${ENV[f]})" for f in ("catalog", "schema") if not getattr(self, f)]
            if missing:
                raise ValueError("target 'databricks' needs " + " and ".join(missing))
            for field in ("catalog", "schema", "model", "inference_table"):
                value = getattr(self, field)
                if value is not None and not _UC_NAME.match(value):
                    raise ValueError(f"{field} {value!r} is not a Unity Catalog name (letters, "
                                     "digits and underscores, not starting with a digit)")

    @classmethod
    def resolve(cls, name: str | None = None, *, env: Mapping[str, str] | None = None,
                **overrides: str | None) -> Target:
        """Build the target: ``name`` or ``$CLOSEDLOOP_TARGET`` or ``local``; each field from
        ``overrides`` (a ``None`` value is ignored), else its environment variable (:data:`ENV`),
        else its default. ``env`` replaces ``os.environ`` (for tests)."""
        env = os.environ if env is None else env
        known = {f.name for f in dataclasses.fields(cls)} - {"name"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown target field(s) {unknown}: expected some of {sorted(known)}")
        chosen = (name or env.get(TARGET_ENV) or "local").strip().lower()
        values = {}
        for field in known:
            value = overrides.get(field)
            if value is None:
                value = env.get(ENV[field]) or None
            if value is not None:
                values[field] = value
        return cls(chosen, **values)

    @property
    def is_local(self) -> bool:
        return self.name == "local"

    @property
    def monitoring(self) -> str:
        """``"local"`` (:mod:`closedloop.monitoring`) or ``"data_quality"`` (the workspace's
        data-quality monitor)."""
        return "local" if self.is_local else "data_quality"

    @property
    def engine(self) -> str:
        """``"local"`` (pandas, DuckDB, Spark ``local[*]``) or ``"spark"`` (the cluster)."""
        return "local" if self.is_local else "spark"

    def log_class(self) -> type | None:
        """The inference log's class on this target: None for the folder's Parquet log
        (:class:`~closedloop.monitoring.store.InferenceLog` itself), the Delta tables through
        Spark (:class:`~closedloop.platform.delta_log.DeltaInferenceLog`) on Databricks.
        ``InferenceLog(workspace)`` asks its workspace's target for it."""
        if self.is_local:
            return None
        from closedloop.platform.delta_log import DeltaInferenceLog

        return DeltaInferenceLog

    def workspace(self) -> Workspace:
        """The local workspace folder with MLflow on this target (on ``databricks`` too: the
        folder holds scratch files and the cache)."""
        return Workspace.resolve(self.workdir, target=self)

    def tracking_uri(self, workspace: Workspace | None = None) -> str:
        """MLflow tracking URI: the workspace's sqlite store, or ``databricks``."""
        if self.is_local:
            return (workspace or self.workspace()).store_uri
        return "databricks"

    def registry_uri(self, workspace: Workspace | None = None) -> str:
        """MLflow registry URI: the same sqlite store, or ``databricks-uc``."""
        return self.tracking_uri(workspace) if self.is_local else "databricks-uc"

    def experiment_name(self, name: str | None = None) -> str:
        """MLflow experiment ``name`` (None: :attr:`experiment`, else ``closedloop``) as the
        tracking server names it: as is locally, under ``/Shared/`` on Databricks (whose
        experiments are workspace paths) unless it is already a path."""
        short = name or self.experiment or DEFAULT_EXPERIMENT
        if self.is_local or short.startswith("/"):
            return short
        return f"/Shared/{short}"

    def _qualify(self, short: str) -> str:
        return f"{self.catalog}.{self.schema}.{short}"

    def model_name(self, name: str | None = None) -> str:
        """Registered model name: ``name`` as is locally, ``catalog.schema.name`` in Unity
        Catalog (hyphens become underscores there; a name with dots is already a full name)."""
        if self.is_local:
            return name or self.model or _LOCAL_MODEL
        short = name or self.model or _UC_MODEL
        return short if "." in short else self._qualify(short.replace("-", "_"))

    def inference_table_name(self) -> str:
        """The inference log: its Parquet folder locally, ``catalog.schema.table`` on
        Databricks."""
        if self.is_local:
            return str(self.workspace().tables_dir / self.inference_table)
        return self._qualify(self.inference_table)

    def table_name(self, short: str) -> str:
        """Any other table (baseline, ground truth): a Parquet folder or a Delta table."""
        if self.is_local:
            return str(Path(self.workspace().tables_dir) / short)
        return self._qualify(short)

    def output_schema(self) -> str:
        """Schema that receives the monitor's metric tables (``catalog.schema``)."""
        if self.is_local:
            return str(self.workspace().tables_dir)
        return f"{self.catalog}.{self.schema}"

    def as_env(self) -> dict[str, str]:
        """The environment variables that rebuild this target (for a job or a subprocess)."""
        env = {TARGET_ENV: self.name}
        for field, variable in ENV.items():
            value = getattr(self, field)
            if value is not None and not (field == "inference_table"
                                          and value == _INFERENCE_TABLE):
                env[variable] = str(value)
        return env
