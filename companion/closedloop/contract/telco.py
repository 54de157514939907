"""The Telco churn contract and its data loader.

:data:`TELCO_SCHEMA` declares the 21 columns of the IBM Telco Customer Churn data; :func:`load_telco`
reads the real file through one door (:func:`fetch`: a local folder, else a cache, else a download,
every copy verified against its registered sha256).

See Also
--------
Chapter :doc:`Data contract and features </book/02_data_contract>`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from closedloop.contract.schema import Column, Schema
from closedloop.contract.validation import DataContractError, restore_dtypes, validate

_YES_NO = ("No", "Yes")
_SERVICE = ("No", "Yes", "No internet service")


#: The contract of the IBM Telco churn data (21 columns, target ``Churn``).
TELCO_SCHEMA = Schema(
    name="telco",
    target="Churn",
    positive="Yes",
    entity_id="customerID",
    columns=(
        Column("customerID", "id", description="customer identifier"),
        Column("gender", "category", ("Female", "Male")),
        Column("SeniorCitizen", "integer", low=0, high=1, description="1 if 65 or older"),
        Column("Partner", "category", _YES_NO),
        Column("Dependents", "category", _YES_NO),
        Column("tenure", "integer", low=0, high=240, description="months with the company"),
        Column("PhoneService", "category", _YES_NO),
        Column("MultipleLines", "category", ("No", "Yes", "No phone service")),
        Column("InternetService", "category", ("DSL", "Fiber optic", "No")),
        Column("OnlineSecurity", "category", _SERVICE, nullable=True),
        Column("OnlineBackup", "category", _SERVICE, nullable=True),
        Column("DeviceProtection", "category", _SERVICE, nullable=True),
        Column("TechSupport", "category", _SERVICE, nullable=True),
        Column("StreamingTV", "category", _SERVICE, nullable=True),
        Column("StreamingMovies", "category", _SERVICE, nullable=True),
        Column("Contract", "category", ("Month-to-month", "One year", "Two year")),
        Column("PaperlessBilling", "category", _YES_NO),
        Column("PaymentMethod", "category", (
            "Bank transfer (automatic)", "Credit card (automatic)", "Electronic check",
            "Mailed check")),
        Column("MonthlyCharges", "float", low=0, high=1000, nullable=True,
               description="current monthly charge, USD"),
        Column("TotalCharges", "float", low=0, high=250_000, nullable=True,
               description="charges to date, USD; 0 for customers not yet billed"),
        Column("Churn", "category", _YES_NO, description="left within the last month"),
    ),
)


DATA_HOME_ENV = "CLOSEDLOOP_DATA_HOME"


CACHE_ENV = "CLOSEDLOOP_CACHE"


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    url: str
    sha256: str


#: Registered datasets (file name, source URL and sha256) by dataset name.
DATA_HUB: Mapping[str, RemoteFile] = {
    "telco": RemoteFile(
        "Telco-Customer-Churn.csv",
        "https://raw.githubusercontent.com/IBM/telco-customer-churn-on-icp4d/master/data/"
        "Telco-Customer-Churn.csv",
        "16320c9c1ec72448db59aa0a26a0b95401046bef5d02fd3aeb906448e3055e91",
    ),
}


class DataUnavailableError(FileNotFoundError):
    """The dataset is in neither the data home nor the cache and could not be downloaded."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, data_home: str | os.PathLike[str] | None = None,
          cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Path of a verified copy of dataset ``name`` from :data:`DATA_HUB`.

    Looks in ``data_home`` (default ``$CLOSEDLOOP_DATA_HOME``), then the cache (default
    ``$CLOSEDLOOP_CACHE`` or ``~/.cache/closedloop``), then downloads into the cache. Every copy
    is checked against the registered sha256.
    """
    remote = DATA_HUB[name]
    home = data_home or os.environ.get(DATA_HOME_ENV)
    cache = Path(cache_dir or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "closedloop")
    for folder in ([Path(home)] if home else []) + [cache]:
        candidate = folder / remote.filename
        if candidate.exists():
            _verify(candidate, remote)
            return candidate
    return _download(remote, cache, home)


def _verify(path: Path, remote: RemoteFile) -> None:
    actual = sha256_of(path)
    if actual != remote.sha256:
        raise DataUnavailableError(
            f"{path} has sha256 {actual}, expected {remote.sha256}: the file is corrupt or a "
            f"different version; replace it with the file from {remote.url}"
        )


def _download(remote: RemoteFile, cache: Path, home: str | None) -> Path:
    target = cache / remote.filename
    partial = target.with_suffix(target.suffix + ".part")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(remote.url, timeout=30) as response, open(partial, "wb") as fh:
            shutil.copyfileobj(response, fh)
    except OSError as err:
        partial.unlink(missing_ok=True)
        where = f"{home} (${DATA_HOME_ENV})" if home else f"a folder named by ${DATA_HOME_ENV}"
        raise DataUnavailableError(
            f"{remote.filename} was not found and could not be downloaded ({err}). Put the file "
            f"in {where} or in {cache}; source: {remote.url}, sha256 {remote.sha256}"
        ) from err
    try:
        _verify(partial, remote)
    except DataUnavailableError:
        partial.unlink()  # a corrupt download must not stay in the cache
        raise
    partial.replace(target)
    return target


def load_telco(data_home: str | os.PathLike[str] | None = None,
               cache_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The IBM Telco churn data (7,043 rows), typed and validated against :data:`TELCO_SCHEMA`.

    The source stores ``TotalCharges`` as text and leaves it blank (``" "``) for the 11 customers
    with ``tenure`` 0: they have not been billed yet, so the blank means 0.0, not "unknown". We set
    those to 0.0 explicitly, and raise if a blank ever appears for a customer with tenure > 0
    (that would be a genuinely missing value, which must not be hidden).
    """
    raw = pd.read_csv(fetch("telco", data_home, cache_dir), dtype=str, keep_default_na=False)
    blank = raw["TotalCharges"].str.strip() == ""
    billed = raw["tenure"].astype(int) > 0
    if (blank & billed).any():
        ids = raw.loc[blank & billed, "customerID"].tolist()[:5]
        raise DataContractError([("TotalCharges", f"blank for billed customers {ids}")], "telco")
    raw.loc[blank, "TotalCharges"] = "0"
    numeric = TELCO_SCHEMA.numeric
    raw[numeric] = raw[numeric].apply(pd.to_numeric)
    return validate(restore_dtypes(raw, TELCO_SCHEMA), TELCO_SCHEMA)
