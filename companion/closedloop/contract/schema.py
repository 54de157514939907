"""The data contract: an explicit schema, one loader, one validator, dtype restoration.

A :class:`Schema` declares every column of a tabular binary-classification dataset (kind, dtype,
allowed categories, numeric range, nullability), which column is the target and which is the entity
id. :data:`~closedloop.contract.telco.TELCO_SCHEMA` is the instance for the IBM Telco churn data; readers declare their own for
another table, and every later stage (features, training, scoring, monitoring) takes the schema.

See Also
--------
Chapter "Data contract and features" (``book/02_data_contract.ipynb``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["id", "category", "integer", "float", "timestamp"]

#: Pandas dtype that each column kind is stored as once it has passed the contract.
KIND_DTYPES: Mapping[str, str] = {
    "id": "object",
    "category": "object",
    "integer": "int64",
    "float": "float64",
    "timestamp": "datetime64[ns]",
}


@dataclass(frozen=True)
class Column:
    """One column of the contract.

    ``categories`` lists the allowed values of a ``category`` column; ``low``/``high`` bound a
    numeric column (inclusive). ``nullable`` says whether missing values are allowed at all; an
    ``integer`` column is never nullable, because pandas would silently turn it into floats.
    """

    name: str
    kind: ColumnKind
    categories: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    nullable: bool = False
    description: str = ""

    @property
    def dtype(self) -> str:
        return KIND_DTYPES[self.kind]


@dataclass(frozen=True)
class Schema:
    """A tabular binary-classification data contract.

    Parameters
    ----------
    name : str
        Short name, used in run names and lineage tags.
    columns : tuple of Column
        Every column, in order. Columns not listed are an error in :func:`validate`.
    target : str
        The label column; ``positive`` is the value that means class 1.
    entity_id : str
        The column that identifies an entity (a customer); never used as a feature.
    timestamp : str or None
        Optional event-time column; never used as a feature.
    """

    name: str
    columns: tuple[Column, ...]
    target: str
    positive: str | int
    entity_id: str
    timestamp: str | None = None
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise ValueError(f"schema {self.name!r} declares a column twice")
        for required in (self.target, self.entity_id, self.timestamp):
            if required is not None and required not in by_name:
                raise ValueError(f"schema {self.name!r} has no column {required!r}")
        object.__setattr__(self, "_by_name", by_name)

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def features(self) -> list[Column]:
        """Columns the model may use (all but target, entity id and timestamp)."""
        excluded = {self.target, self.entity_id, self.timestamp}
        return [c for c in self.columns if c.name not in excluded]

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.features]

    @property
    def categorical(self) -> list[str]:
        return [c.name for c in self.features if c.kind == "category"]

    @property
    def numeric(self) -> list[str]:
        return [c.name for c in self.features if c.kind in ("integer", "float")]

    def target_as_int(self, df: pd.DataFrame) -> pd.Series:
        """The label as 0/1 ``int64`` (1 where the target equals ``positive``)."""
        return (df[self.target] == self.positive).astype("int64").rename("label")

    def to_dict(self) -> dict:
        """JSON-serialisable form (stored with every model)."""
        cols = [{k: v for k, v in vars(c).items() if v not in ((), None, "")} for c in self.columns]
        return {"name": self.name, "columns": cols, "target": self.target,
                "positive": self.positive, "entity_id": self.entity_id,
                "timestamp": self.timestamp}

    @classmethod
    def from_dict(cls, spec: Mapping) -> Schema:
        columns = tuple(
            Column(**{**c, "categories": tuple(c.get("categories", ()))}) for c in spec["columns"]
        )
        return cls(name=spec["name"], columns=columns, target=spec["target"],
                   positive=spec["positive"], entity_id=spec["entity_id"],
                   timestamp=spec.get("timestamp"))


class DataContractError(ValueError):
    """Raised by :func:`validate` with every problem found, one per line in the message.

    ``problems`` holds ``(column, message)`` pairs; ``columns`` the offending column names.
    """

    def __init__(self, problems: list[tuple[str, str]], schema_name: str = "") -> None:
        self.problems = problems
        self.columns = sorted({column for column, _ in problems})
        lines = "\n".join(f"  - {column}: {message}" for column, message in problems)
        super().__init__(
            f"data contract {schema_name!r} violated ({len(problems)} problem(s)):\n{lines}"
        )


def validate(df: pd.DataFrame, schema: Schema, *, require_target: bool = True,
             require_id: bool = True, allow_extra: Iterable[str] = ()) -> pd.DataFrame:
    """Check ``df`` against ``schema``; raise one :class:`DataContractError` listing every problem.

    Checks: empty frame, missing and extra columns, dtype, nulls in non-nullable columns, all-null
    columns, unknown category values and out-of-range numbers. Returns ``df`` unchanged, so it can
    be used inline. ``require_target=False`` accepts scoring input without the label,
    ``require_id=False`` input without the entity id and timestamp (a model's input);
    ``allow_extra`` names columns that may be present beyond the contract (e.g. a prediction id).

    Examples
    --------
    >>> from closedloop.contract.telco import TELCO_SCHEMA
    >>> bad = pd.DataFrame({"customerID": ["a"], "gender": ["Robot"]})
    >>> try:
    ...     validate(bad, TELCO_SCHEMA)
    ... except DataContractError as err:
    ...     print(err.columns[:3])
    ['Churn', 'Contract', 'Dependents']
    """
    problems: list[tuple[str, str]] = []
    if len(df) == 0:
        problems.append(("<frame>", "is empty: no rows to validate"))
    optional = ({schema.target} if not require_target else set()) | (
        {schema.entity_id, schema.timestamp} if not require_id else set())
    expected = [c for c in schema.columns if c.name not in optional]
    for column in expected:
        if column.name not in df.columns:
            problems.append((column.name, f"missing (expected {column.kind} column)"))
    known = {c.name for c in schema.columns} | set(allow_extra)
    for name in df.columns:
        if name not in known:
            problems.append((str(name), "unexpected column, not in the contract"))
    if len(df):
        for column in expected:
            if column.name in df.columns:
                problems.extend((column.name, m) for m in _check_column(df[column.name], column))
    if problems:
        raise DataContractError(problems, schema.name)
    return df


def _check_column(values: pd.Series, column: Column) -> list[str]:
    missing = values.isna()
    nulls = int(missing.sum())
    # An all-null column is what a column dropped upstream looks like; but a single row with a
    # null in a nullable column (one serving request) is just a null.
    if nulls == len(values) and (len(values) > 1 or not column.nullable):
        return [f"all {nulls} values are null"]
    problems = []
    if nulls and not column.nullable:
        problems.append(f"{nulls} null value(s) in a non-nullable column")
    present = values[~missing] if nulls else values
    if column.kind in ("integer", "float"):
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return problems + [f"dtype {values.dtype} is not numeric (expected {column.dtype})"]
        if column.kind == "integer" and not pd.api.types.is_integer_dtype(values):
            # Strict on purpose: int -> float is the silent drift restore_dtypes() exists to undo.
            problems.append(f"dtype {values.dtype} is not an integer dtype (expected int64; "
                            "restore_dtypes() converts whole-number floats)")
        problems.extend(_range_problems(present, column))
    elif column.kind == "category":
        if not _is_text(values):
            return problems + [f"dtype {values.dtype} is not text (expected categories)"]
        unknown = sorted(set(present.unique()) - set(column.categories))
        if unknown:
            problems.append(f"unknown value(s) {unknown[:5]}; allowed: {list(column.categories)}")
    elif column.kind == "id" and not _is_text(values):
        problems.append(f"dtype {values.dtype} is not text (expected an identifier string)")
    elif column.kind == "timestamp" and not pd.api.types.is_datetime64_any_dtype(values):
        problems.append(f"dtype {values.dtype} is not a timestamp")
    return problems


def _is_text(values: pd.Series) -> bool:
    # The dtype, not the Series: on an object Series pandas also inspects the values and says
    # False as soon as one is null, which would reject every nullable category column with a null.
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = pd.Series(np.asarray(values.dropna().unique(), dtype=object))
    if pd.api.types.is_string_dtype(values.dtype):
        # One pass in C; "empty": every value is null.
        return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    return False


def _range_problems(present: pd.Series, column: Column) -> list[str]:
    problems = []
    if column.low is not None and (present < column.low).any():
        problems.append(f"value {present.min()!r} below the minimum {column.low}")
    if column.high is not None and (present > column.high).any():
        problems.append(f"value {present.max()!r} above the maximum {column.high}")
    return problems


def restore_dtypes(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Return a copy of ``df`` with the contract's dtypes on every contract column present.

    Undoes the int-to-float drift that joins, ``concat`` with missing values or a round trip
    through another engine cause (``tenure`` 12 -> 12.0). A cast that would change a value (12.5 in
    an integer column, a null in a non-nullable integer column) raises
    :class:`DataContractError` instead of truncating silently.
    """
    out = df.copy()
    problems: list[tuple[str, str]] = []
    for column in schema.columns:
        if column.name not in out.columns:
            continue
        values = out[column.name]
        if column.kind == "integer":
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() | (numeric != np.floor(numeric))
            if bad.any():
                problems.append((column.name, f"value {values[bad].iloc[0]!r} is not an integer"))
                continue
            out[column.name] = numeric.astype("int64")
        elif column.kind == "float":
            out[column.name] = pd.to_numeric(values, errors="raise").astype("float64")
        elif column.kind in ("category", "id"):
            out[column.name] = values.astype("object").where(values.notna(), None)
        elif column.kind == "timestamp":
            out[column.name] = pd.to_datetime(values)
    if problems:
        raise DataContractError(problems, schema.name)
    return out


# --------------------------------------------------------------------------------------------
# The Telco instance of the contract
# --------------------------------------------------------------------------------------------



# --------------------------------------------------------------------------------------------
# One door for data: a registry of URL + sha256, a local folder first, then a cache
# --------------------------------------------------------------------------------------------

















