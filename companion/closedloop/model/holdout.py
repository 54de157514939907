"""The holdout of a registered version: the rows no model step saw, for judging it later.

See Also
--------
Chapter "Quality gates" (``book/04_quality_gates.ipynb``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.model.registry import (
    DEFAULT_MODEL_NAME,
    TAG,
    RegistryError,
    data_hash,
)
from closedloop.model.train import TrainConfig, split_data


def training_run(workspace: Workspace, version: str, *,
                 model_name: str = DEFAULT_MODEL_NAME) -> Any:
    """The MLflow run that trained ``version`` (its params, metrics and lineage tags)."""
    from mlflow.exceptions import MlflowException

    client = workspace.client()
    try:
        return client.get_run(client.get_model_version(model_name, str(version)).run_id)
    except MlflowException as err:
        raise RegistryError(f"{model_name} has no version {version} with a training run "
                            f"({err.message})") from err


def split_config(run: Any) -> TrainConfig:
    """The split settings a training run logged, with ``split_seed`` always set (to ``seed``
    when the run split with its own seed), so another model can be trained on the same split."""
    params = run.data.params
    seed, split_seed = int(params["config.seed"]), params.get("config.split_seed", "None")
    return TrainConfig(seed=seed, split_seed=seed if split_seed == "None" else int(split_seed),
                       valid_size=float(params.get("config.valid_size", 0.2)),
                       test_size=float(params.get("config.test_size", 0.2)))


def split_signature(run: Any) -> tuple[Any, ...]:
    config = split_config(run)
    return (run.data.tags.get(f"{TAG}data.hash"), config.split_seed, config.valid_size,
            config.test_size)


def holdout_for(workspace: Workspace, version: str, data: pd.DataFrame, schema: Schema, *,
                model_name: str = DEFAULT_MODEL_NAME) -> pd.DataFrame:
    """The test split of ``version``, rebuilt from ``data`` and its training run's parameters.

    Raises :class:`ValueError` when ``data`` is not the table the version was trained on (its
    content hash differs from the one logged at training time): a split of another table would
    be a different holdout, possibly full of training rows.
    """
    run = training_run(workspace, version, model_name=model_name)
    logged, actual = run.data.tags.get(f"{TAG}data.hash"), data_hash(data)
    if logged is not None and logged != actual:
        raise ValueError(
            f"version {version} of {model_name} was trained on a table with hash {logged}; this "
            f"one has hash {actual}, so its holdout cannot be rebuilt from it")
    return split_data(data, schema, split_config(run)).test
