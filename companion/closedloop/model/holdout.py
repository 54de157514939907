"""What a registered version carries: its contract, its holdout and the rows it was trained on.

Every version registered by :func:`closedloop.model.registry.train_and_register` or by the
retraining workflow stores, as artifacts of its MLflow run, its data contract
(``contract/schema.json``), its exact holdout (``holdout.parquet``: the test rows, all contract
columns, in order), the rows it was trained on (``train.parquet``) and, for a version trained by
``closedloop train``, its validation rows (``validation.parquet``). :func:`load_contract`,
:func:`load_holdout` and :func:`load_training_rows` read them back, so judging, monitoring or
retraining a version never needs the table it was trained on again.

Every reader here refuses a workspace with no model registry
(:class:`~closedloop.model.registry.NoRegistryError`, naming the folder) before anything is
created. Versions registered before these artifacts existed keep the old way: their holdout is
rebuilt from the table they were trained on (checked against the hash logged at training time)
and their contract is the one stored with the model.

See Also
--------
Chapter :doc:`Quality gates </book/04_quality_gates>`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from closedloop.config import Workspace
from closedloop.contract.schema import Schema
from closedloop.model.registry import (
    CONTRACT_ARTIFACT,
    DEFAULT_MODEL_NAME,
    HOLDOUT_ARTIFACT,
    TAG,
    TRAIN_ARTIFACT,
    VALIDATION_ARTIFACT,
    RegistryError,
    data_hash,
    legacy_data_hash,
    registry_client,
    require_store,
)
from closedloop.model.train import TrainConfig, split_data


def training_run(workspace: Workspace, version: str, *,
                 model_name: str = DEFAULT_MODEL_NAME) -> Any:
    """The MLflow run that trained ``version`` (its params, metrics and lineage tags)."""
    from mlflow.exceptions import MlflowException

    model_name = workspace.model_name(model_name)
    client = registry_client(workspace)
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


def resolve_version(workspace: Workspace, version_or_alias: str, *,
                    model_name: str = DEFAULT_MODEL_NAME) -> str:
    """The version number behind ``version_or_alias`` (``"3"`` or ``"champion"``)."""
    from mlflow.exceptions import MlflowException

    require_store(workspace)
    if str(version_or_alias).isdigit():
        return str(version_or_alias)
    model_name = workspace.model_name(model_name)
    try:
        return str(registry_client(workspace).get_model_version_by_alias(
            model_name, str(version_or_alias)).version)
    except MlflowException as err:
        raise RegistryError(f"{model_name} has no @{version_or_alias} ({err.message})") from err


def stored_artifacts(workspace: Workspace, version: str, *,
                     model_name: str = DEFAULT_MODEL_NAME) -> set[str]:
    """The contract artifacts the run of ``version`` holds (empty for an older version)."""
    client = registry_client(workspace)
    run_id = training_run(workspace, version, model_name=model_name).info.run_id
    names = {a.path for a in client.list_artifacts(run_id)}
    if "contract" in names:
        names |= {a.path for a in client.list_artifacts(run_id, "contract")}
    return names & {CONTRACT_ARTIFACT, HOLDOUT_ARTIFACT, TRAIN_ARTIFACT, VALIDATION_ARTIFACT}


def _read_artifact(workspace: Workspace, run_id: str, path: str) -> Any:
    """A run artifact, read: a JSON file as a dict, a Parquet file as a DataFrame."""
    with tempfile.TemporaryDirectory(prefix="closedloop-") as tmp:
        local = Path(registry_client(workspace).download_artifacts(run_id, path, tmp))
        return (json.loads(local.read_text()) if local.suffix == ".json"
                else pd.read_parquet(local))


def load_contract(workspace: Workspace, version_or_alias: str = "champion", *,
                  model_name: str = DEFAULT_MODEL_NAME) -> Schema:
    """The data contract of a registered version (or of the version behind an alias).

    Read from the ``contract/schema.json`` artifact of its run; a version registered before
    that artifact existed gives the contract stored with its pyfunc.

    Raises
    ------
    RegistryError
        When the model, the alias or the version does not exist, or the version has no
        contract (a model registered by other means than closedloop).
    """
    version = resolve_version(workspace, version_or_alias, model_name=model_name)
    run = training_run(workspace, version, model_name=model_name)
    if CONTRACT_ARTIFACT in stored_artifacts(workspace, version, model_name=model_name):
        return Schema.from_dict(_read_artifact(workspace, run.info.run_id, CONTRACT_ARTIFACT))
    from closedloop.model.registry import load_model

    model = load_model(workspace, version, model_name=model_name).unwrap_python_model()
    schema = getattr(model, "schema", None)
    if not isinstance(schema, Schema):  # a pyfunc registered by other means than closedloop
        raise RegistryError(
            f"{model_name} v{version} has no data contract: its run stores no "
            f"{CONTRACT_ARTIFACT} and its model ({type(model).__name__}) carries none "
            "(expected a version registered by closedloop train or train_and_register)")
    return schema


def _load_rows(workspace: Workspace, version_or_alias: str, artifact: str,
               model_name: str) -> pd.DataFrame:
    from closedloop.contract.validation import restore_dtypes

    version = resolve_version(workspace, version_or_alias, model_name=model_name)
    if artifact not in stored_artifacts(workspace, version, model_name=model_name):
        raise ValueError(f"version {version} of {model_name} has no stored {artifact} (it was "
                         "registered before models carried their data): pass the table it "
                         "was trained on")
    run_id = training_run(workspace, version, model_name=model_name).info.run_id
    rows = _read_artifact(workspace, run_id, artifact)
    schema = load_contract(workspace, version, model_name=model_name)
    return restore_dtypes(rows, schema)


def load_holdout(workspace: Workspace, version: str, *,
                 model_name: str = DEFAULT_MODEL_NAME) -> pd.DataFrame:
    """The stored holdout of ``version`` (a number or an alias): its test rows, in order.

    Raises :class:`ValueError` for a version registered before holdouts were stored.
    """
    return _load_rows(workspace, version, HOLDOUT_ARTIFACT, model_name)


def load_training_rows(workspace: Workspace, version: str, *,
                       model_name: str = DEFAULT_MODEL_NAME) -> pd.DataFrame:
    """The rows ``version`` (a number or an alias) was trained on, none of its holdout.

    For a version trained by :func:`closedloop.model.registry.train_and_register`: its train and
    validation splits; for one registered by the retraining workflow: its training table (recent
    rows mixed with history). A later retraining uses them as its history.
    Raises :class:`ValueError` for a version registered before they were stored.
    """
    return _load_rows(workspace, version, TRAIN_ARTIFACT, model_name)


def load_validation_rows(workspace: Workspace, version: str, *,
                         model_name: str = DEFAULT_MODEL_NAME) -> pd.DataFrame | None:
    """The validation rows stored with ``version`` (None when it stored none)."""
    version = resolve_version(workspace, version, model_name=model_name)
    if VALIDATION_ARTIFACT not in stored_artifacts(workspace, version, model_name=model_name):
        return None
    return _load_rows(workspace, version, VALIDATION_ARTIFACT, model_name)


def contract_difference(given: Schema, stored: Schema) -> str | None:
    """The first key at which two contracts differ (``None`` when they are the same).

    Examples
    --------
    >>> from closedloop.contract.telco import TELCO_SCHEMA
    >>> import dataclasses
    >>> contract_difference(TELCO_SCHEMA, TELCO_SCHEMA) is None
    True
    >>> contract_difference(dataclasses.replace(TELCO_SCHEMA, positive="No"), TELCO_SCHEMA)
    'positive'
    """
    def first(a: Any, b: Any, key: str) -> str | None:
        if isinstance(a, dict) and isinstance(b, dict):
            for k in list(a) + [k for k in b if k not in a]:
                found = first(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))
                if found is not None:
                    return found
            return None
        if isinstance(a, list) and isinstance(b, list):
            for i in range(max(len(a), len(b))):
                found = first(a[i] if i < len(a) else None, b[i] if i < len(b) else None,
                              f"{key}[{i}]")
                if found is not None:
                    return found
            return None
        return None if a == b else key

    return first(given.to_dict(), stored.to_dict(), "")


def check_contract(given: Schema, stored: Schema, *, what: str = "the model") -> None:
    """Raise :class:`ValueError` naming both contracts and the first differing key when
    ``given`` is not ``stored`` (the contract ``what`` carries)."""
    key = contract_difference(given, stored)
    if key is not None:
        raise ValueError(f"the contract {given.name!r} differs from {stored.name!r}, the contract "
                         f"of {what}, at key {key!r}: leave --schema out to use the model's")


def _same_table(logged: str | None, data: pd.DataFrame) -> tuple[bool, str]:
    # A 16-digit hash was logged by an older version (sum of row hashes: order-insensitive).
    if logged is not None and len(logged) == 16:
        actual = legacy_data_hash(data)
    else:
        actual = data_hash(data)
    return logged is None or logged == actual, actual


def holdout_for(workspace: Workspace, version: str, data: pd.DataFrame | None = None,
                schema: Schema | None = None, *,
                model_name: str = DEFAULT_MODEL_NAME) -> pd.DataFrame:
    """The holdout of ``version``: its stored test rows, or for an older version its test split
    rebuilt from ``data``.

    Parameters
    ----------
    workspace : Workspace
        Where the registry lives.
    version : str
        Version number (or alias).
    data : DataFrame, optional
        The table the version was trained on. Not needed for a version that stores its holdout;
        if given, it must be that table, rows in the same order (its hash is compared with the
        one logged at training time).
    schema : Schema, optional
        Its contract (default: the version's own); if given it must equal the version's.

    Raises
    ------
    ValueError
        ``data`` is not the table the version was trained on (both hashes are named): a split of
        another table, or of a shuffled copy, would be a different holdout, possibly full of
        training rows; or an older version without a stored holdout gets no ``data``; or
        ``schema`` is not the version's contract.
    """
    version = resolve_version(workspace, version, model_name=model_name)
    run = training_run(workspace, version, model_name=model_name)
    contract = load_contract(workspace, version, model_name=model_name)
    if schema is not None:
        check_contract(schema, contract, what=f"version {version} of {model_name}")
    if data is not None:
        logged = run.data.tags.get(f"{TAG}data.hash")
        same, actual = _same_table(logged, data)
        if not same:
            raise ValueError(
                f"version {version} of {model_name} was trained on other data (hash {logged}); "
                f"this one has hash {actual}, so its holdout cannot be rebuilt from it")
    if HOLDOUT_ARTIFACT in stored_artifacts(workspace, version, model_name=model_name):
        return load_holdout(workspace, version, model_name=model_name)
    if data is None:
        raise ValueError(f"version {version} of {model_name} stores no holdout (it was "
                         "registered before models carried their data): pass the table it was "
                         "trained on")
    return split_data(data, contract, split_config(run)).test
