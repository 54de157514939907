"""The data contract: an explicit schema, one loader, one validator, dtype restoration.

A :class:`Schema` declares every column of a tabular binary-classification dataset (kind, dtype,
allowed categories, numeric range, nullability) and the role of the special columns: the target,
the entity id, the event time (``timestamp``) and columns carried through unchanged
(``passthrough``). :data:`~closedloop.contract.telco.TELCO_SCHEMA` is the instance for the IBM
Telco churn data; readers declare their own for another table, in Python or in a JSON file read by
:func:`load_schema` (the format is documented on the book page "The schema file"), and every later
stage (features, training, scoring, monitoring) takes the schema.

A schema is checked when it is built: :class:`SchemaError` lists every problem of the declaration
at once, as :class:`~closedloop.contract.validation.DataContractError` lists every problem of a table.

See Also
--------
Chapter :doc:`Data contract and features </book/02_data_contract>`.
"""

from __future__ import annotations

import json
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["id", "category", "integer", "float", "timestamp", "boolean"]

#: Pandas dtype that each column kind is stored as once it has passed the contract. ``id``
#: columns hold text (:func:`~closedloop.contract.validation.restore_dtypes` turns integer ids into strings); a ``boolean``
#: column with nulls is held as pandas' nullable ``boolean`` dtype.
KIND_DTYPES: Mapping[str, str] = {
    "id": "object",
    "category": "object",
    "integer": "int64",
    "float": "float64",
    "timestamp": "datetime64[ns]",
    "boolean": "bool",
}

#: Kinds a target may have: a 0/1 integer, a boolean, or a category with exactly two values.
TARGET_KINDS = ("integer", "boolean", "category")

#: How many offending rows (and values) an error message shows.
_SHOWN = 5

_COLUMN_KEYS = ("name", "kind", "categories", "low", "high", "nullable", "description")
_SCHEMA_KEYS = ("name", "columns", "target", "positive", "entity_id")
_OPTIONAL_SCHEMA_KEYS = ("timestamp", "passthrough")


class SchemaError(ValueError):
    """A schema declaration (in Python or a JSON file) is invalid.

    Raised once, by :class:`Schema`, :meth:`Schema.from_dict` or :func:`load_schema`, listing
    every problem found. A ``ValueError``, so the command line reports it with exit code 2.

    Parameters
    ----------
    problems : list of str
        One sentence per problem.
    source : str
        What was being read: a file name or ``schema 'name'``; prefixes the message.

    Attributes
    ----------
    problems : list of str
        The problems, in the order found.
    source : str
        As given.
    """

    def __init__(self, problems: Sequence[str], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = f"{prefix}{self.problems[0]}"
        else:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            message = f"{prefix}invalid schema ({len(self.problems)} problems):\n{lines}"
        super().__init__(message)


@dataclass(frozen=True)
class Column:
    """One column of the contract.

    ``kind`` is one of ``id`` (an identifier or free text: text or integers), ``category``,
    ``integer``, ``float``, ``timestamp`` or ``boolean``. ``categories`` lists the allowed values
    of a ``category`` column; ``low``/``high`` bound a numeric column (inclusive). ``nullable``
    says whether missing values are allowed at all; an ``integer`` column with nulls fails
    :func:`~closedloop.contract.validation.restore_dtypes`, because pandas would silently turn it into floats.

    The column is checked by the :class:`Schema` that holds it, so that one error lists every
    problem of the declaration.
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
        """The pandas dtype of the column once it has passed the contract."""
        return KIND_DTYPES[self.kind]


@dataclass(frozen=True)
class Schema:
    """A tabular binary-classification data contract.

    Parameters
    ----------
    name : str
        Short name, used in run names and lineage tags.
    columns : tuple of Column
        Every column, in order. Columns not listed are an error in :func:`~closedloop.contract.validation.validate`.
    target : str
        The label column: an ``integer`` column bounded by 0 and 1, a ``boolean`` column, or a
        ``category`` column with exactly two categories.
    positive : str, int or bool
        The target value that means class 1: one of the categories, 0 or 1 (the text ``"1"`` is
        read as 1 for an integer target), or True/False.
    entity_id : str
        The column that identifies an entity (a customer), of kind ``id``; never a feature.
    timestamp : str or None
        Optional event-time column, of kind ``timestamp``; never a feature.
    passthrough : tuple of str
        Columns carried through to the scored output and the inference log, never features
        (a name, a branch code). Any kind.

    Raises
    ------
    SchemaError
        Listing every problem of the declaration: an unknown kind, a category column without
        categories, ``low`` above ``high``, a role naming a missing column or a column of the
        wrong kind, a column in two roles, a column declared twice, ``positive`` not a value of
        the target.

    Examples
    --------
    >>> loans = Schema("loans", (Column("loan_id", "id"), Column("income", "float", low=0),
    ...                          Column("defaulted", "integer", low=0, high=1)),
    ...                target="defaulted", positive="1", entity_id="loan_id")
    >>> loans.positive, loans.feature_names
    (1, ['income'])
    >>> try:
    ...     Schema("bad", (Column("id", "id"), Column("y", "float")), target="y", positive=1,
    ...            entity_id="key")
    ... except SchemaError as err:
    ...     for problem in err.problems:
    ...         print(problem)
    entity_id: no column 'key'
    target 'y' is of kind 'float'; a target is integer 0/1, boolean or a two-value category
    """

    name: str
    columns: tuple[Column, ...]
    target: str
    positive: str | int | bool
    entity_id: str
    timestamp: str | None = None
    passthrough: tuple[str, ...] = ()
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Lists and generators from user code are stored as tuples: the schema stays hashable
        # and equal to its own JSON round trip.
        object.__setattr__(self, "columns", tuple(self.columns))
        passthrough = (self.passthrough,) if isinstance(self.passthrough, str) else self.passthrough
        object.__setattr__(self, "passthrough", tuple(passthrough))
        by_name = {c.name: c for c in self.columns if isinstance(c, Column)}
        problems = _schema_problems(self, by_name)
        if problems:
            raise SchemaError(problems, f"schema {self.name!r}")
        object.__setattr__(self, "positive", _normalise_positive(self.positive,
                                                                 by_name[self.target]))
        object.__setattr__(self, "_by_name", by_name)

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def names(self) -> list[str]:
        """Every column name, in order."""
        return [c.name for c in self.columns]

    @property
    def features(self) -> list[Column]:
        """Columns the model may use: all but target, entity id, timestamp and passthrough."""
        excluded = {self.target, self.entity_id, self.timestamp, *self.passthrough}
        return [c for c in self.columns if c.name not in excluded]

    @property
    def feature_names(self) -> list[str]:
        """Names of :attr:`features`, in order."""
        return [c.name for c in self.features]

    @property
    def carried(self) -> list[str]:
        """The passthrough columns: kept in the scored output and the log, never features."""
        return list(self.passthrough)

    @property
    def categorical(self) -> list[str]:
        """Feature columns of kind ``category``."""
        return [c.name for c in self.features if c.kind == "category"]

    @property
    def numeric(self) -> list[str]:
        """Feature columns the model reads as numbers (``integer``, ``float``, ``boolean`` 0/1)."""
        return [c.name for c in self.features if c.kind in ("integer", "float", "boolean")]

    def target_as_int(self, df: pd.DataFrame) -> pd.Series:
        """The label as 0/1 ``int64`` (1 where the target equals ``positive``, else 0)."""
        matches = df[self.target] == self.positive
        if matches.dtype != bool:  # a nullable boolean target compares to <NA> where missing
            matches = matches.fillna(False).astype(bool)
        return matches.astype("int64").rename("label")

    def to_dict(self) -> dict:
        """JSON-serialisable form (stored with every model; :meth:`from_dict` reads it back)."""
        cols = [{k: v for k, v in vars(c).items() if v not in ((), None, "")} for c in self.columns]
        return {"name": self.name, "columns": cols, "target": self.target,
                "positive": self.positive, "entity_id": self.entity_id,
                "timestamp": self.timestamp, "passthrough": list(self.passthrough)}

    @classmethod
    def from_dict(cls, spec: Any) -> Schema:
        """Build a schema from its JSON form (as :meth:`to_dict` writes and the book documents).

        Raises
        ------
        SchemaError
            Listing every problem: a missing or unknown key, a value of the wrong type, and
            every problem :class:`Schema` itself finds.
        """
        expected = (f"a JSON object with keys {', '.join(_SCHEMA_KEYS)} "
                    f"(optional: {', '.join(_OPTIONAL_SCHEMA_KEYS)})")
        if not isinstance(spec, Mapping):
            raise SchemaError([f"expected {expected}; got {_json_type(spec)}"])
        problems = []
        missing = [repr(key) for key in _SCHEMA_KEYS if key not in spec]
        if missing:  # one line for all: an empty object is one mistake, not five
            problems.append(f"missing key{'s' * (len(missing) > 1)} {', '.join(missing)} "
                            f"(expected {expected})")
        problems += [f"unknown key {key!r} (expected {expected})"
                     for key in spec if key not in _SCHEMA_KEYS + _OPTIONAL_SCHEMA_KEYS]
        columns = _columns_from_json(spec.get("columns", []), problems)
        for key in ("name", "target", "entity_id"):
            if key in spec and not isinstance(spec[key], str):
                problems.append(f"{key!r} must be a text value; got {_json_type(spec[key])}")
        if spec.get("timestamp") is not None and not isinstance(spec["timestamp"], str):
            problems.append(f"'timestamp' must be a column name or null; "
                            f"got {_json_type(spec['timestamp'])}")
        passthrough = spec.get("passthrough") or []
        if not (isinstance(passthrough, (list, tuple))
                and all(isinstance(p, str) for p in passthrough)):
            problems.append("'passthrough' must be a list of column names")
            passthrough = []
        if problems:  # the declaration is not readable enough to check its meaning
            raise SchemaError(problems)
        return cls(name=spec["name"], columns=columns, target=spec["target"],
                   positive=spec["positive"], entity_id=spec["entity_id"],
                   timestamp=spec.get("timestamp"), passthrough=tuple(passthrough))


def load_schema(path: str | os.PathLike[str]) -> Schema:
    """Read a schema from a JSON file (the format of :meth:`Schema.to_dict`).

    Parameters
    ----------
    path : str or path-like
        The JSON file.

    Returns
    -------
    Schema

    Raises
    ------
    SchemaError
        With a message that starts with the file name: the file is missing or a folder, its JSON
        is malformed (with line and column), or the schema it declares is invalid (every
        problem).

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "schema.json").write_text('{"name": "x",\\n "columns": []\\n "target": "y"}')
    >>> try:
    ...     load_schema(folder / "schema.json")
    ... except SchemaError as err:
    ...     print(str(err).replace(str(folder), "folder"))
    folder/schema.json: line 3 column 2: Expecting ',' delimiter
    """
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(["no such file"], source) from None
    except IsADirectoryError:
        raise SchemaError(["is a folder, not a JSON schema file"], source) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SchemaError([f"cannot be read: {err}"], source) from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as err:
        raise SchemaError([f"line {err.lineno} column {err.colno}: {err.msg}"], source) from None
    try:
        return Schema.from_dict(spec)
    except SchemaError as err:
        raise SchemaError(err.problems, source) from None


# --------------------------------------------------------------------------------------------
# Checking a declaration
# --------------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages about a hand-written file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, (list, tuple)) else "an object"


def _columns_from_json(raw: Any, problems: list[str]) -> tuple[Column, ...]:
    """The columns of a JSON schema; problems of form are appended to ``problems``."""
    if not isinstance(raw, (list, tuple)):
        problems.append(f"'columns' must be a list of column objects; got {_json_type(raw)}")
        return ()
    columns = []
    for i, spec in enumerate(raw):
        where = f"columns[{i}]"
        if not isinstance(spec, Mapping):
            problems.append(f"{where}: expected an object with keys name, kind (optional: "
                            f"categories, low, high, nullable, description); "
                            f"got {_json_type(spec)}")
            continue
        if isinstance(spec.get("name"), str):
            where = f"column {spec['name']!r}"
        for key in ("name", "kind"):
            if not isinstance(spec.get(key), str):
                problems.append(f"{where}: {key!r} must be given as a string")
        problems.extend(f"{where}: unknown key {key!r} (allowed: {', '.join(_COLUMN_KEYS)})"
                        for key in spec if key not in _COLUMN_KEYS)
        categories = spec.get("categories", [])
        # A tuple too: to_dict() output that has not been through JSON.
        if not (isinstance(categories, (list, tuple))
                and all(isinstance(c, str) for c in categories)):
            problems.append(f"{where}: 'categories' must be a list of strings")
            categories = []
        for key in ("low", "high"):
            value = spec.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int,
                                                                                      float))):
                problems.append(f"{where}: {key!r} must be a number; got {_json_type(value)}")
        if not isinstance(spec.get("nullable", False), bool):
            problems.append(f"{where}: 'nullable' must be true or false")
        if not isinstance(spec.get("description", ""), str):
            problems.append(f"{where}: 'description' must be a string")
        known = {k: v for k, v in spec.items() if k in _COLUMN_KEYS}
        columns.append(Column(**{**known, "name": spec.get("name"), "kind": spec.get("kind"),
                                 "categories": tuple(categories)}))
    return tuple(columns)


def _column_problems(column: Column) -> list[str]:
    where = f"column {column.name!r}"
    if not isinstance(column.name, str) or not column.name:
        return [f"a column's name must be a non-empty string; got {column.name!r}"]
    if column.kind not in KIND_DTYPES:
        return [f"{where}: unknown kind {column.kind!r} "
                f"(expected one of: {', '.join(KIND_DTYPES)})"]
    problems = []
    if column.kind == "category":
        if not column.categories:
            problems.append(f"{where}: a category column needs its list of categories")
        elif len(set(column.categories)) != len(column.categories):
            problems.append(f"{where}: a category is listed twice")
    if column.low is not None and column.high is not None and column.low > column.high:
        problems.append(f"{where}: low {_plain(column.low)} is above high {_plain(column.high)}")
    return problems


def _schema_problems(schema: Schema, by_name: Mapping[str, Column]) -> list[str]:
    """Every problem of the declaration, in the order a reader would fix them."""
    problems = []
    if not isinstance(schema.name, str) or not schema.name:
        problems.append(f"the schema's name must be a non-empty string; got {schema.name!r}")
    if not schema.columns:
        problems.append("no columns declared")
    for column in schema.columns:
        if not isinstance(column, Column):
            problems.append(f"columns must be Column objects; got {column!r}")
        else:
            problems.extend(_column_problems(column))
    seen: set[str] = set()
    for column in schema.columns:
        if isinstance(column, Column) and column.name in seen:
            problems.append(f"column {column.name!r} is declared twice")
        seen.add(getattr(column, "name", None))
    roles = [("target", schema.target), ("entity_id", schema.entity_id)]
    if schema.timestamp is not None:
        roles.append(("timestamp", schema.timestamp))
    roles += [("passthrough", name) for name in schema.passthrough]
    role_of: dict[str, str] = {}
    for role, name in roles:
        if not isinstance(name, str) or name not in by_name:
            problems.append(f"{role}: no column {name!r}")
            continue
        if name in role_of:
            problems.append(f"column {name!r} has two roles: {role_of[name]} and {role}")
        role_of.setdefault(name, role)
    wanted = [("entity_id", schema.entity_id, "id"), ("timestamp", schema.timestamp, "timestamp")]
    for role, name, kind in wanted:
        column = by_name.get(name) if isinstance(name, str) else None
        if column is not None and column.kind in KIND_DTYPES and column.kind != kind:
            problems.append(f"{role} {name!r} is of kind {column.kind!r}; it must be {kind!r}")
    target = by_name.get(schema.target) if isinstance(schema.target, str) else None
    if target is not None and target.kind in KIND_DTYPES:
        problems.extend(_target_problems(target, schema.positive))
    return problems


def _target_problems(target: Column, positive: Any) -> list[str]:
    where = f"target {target.name!r}"
    if target.kind not in TARGET_KINDS:
        return [f"{where} is of kind {target.kind!r}; a target is integer 0/1, boolean or a "
                "two-value category"]
    if target.kind == "category":
        if len(target.categories) != 2:
            return [f"{where} has {len(target.categories)} categories; a target has exactly two"]
        if positive not in target.categories or not isinstance(positive, str):
            return [f"positive {positive!r} is not a value of {where} "
                    f"(expected one of {list(target.categories)})"]
        return []
    if target.kind == "boolean":
        if not isinstance(positive, (bool, np.bool_)):
            return [f"positive {positive!r} is not a value of the boolean {where} "
                    "(expected true or false)"]
        return []
    problems = []
    if target.low != 0 or target.high != 1:
        problems.append(f"{where} is an integer column, so it must declare low 0 and high 1 "
                        "(the contract then rejects any other label)")
    value = _normalise_positive(positive, target)
    if value not in (0, 1) or isinstance(value, (bool, np.bool_)):
        problems.append(f"positive {positive!r} is not a value of the integer {where} "
                        "(expected 0 or 1)")
    elif (target.low is not None and value < target.low) or (
            target.high is not None and value > target.high):
        problems.append(f"positive {value} is outside the range of {where}")
    return problems


def _normalise_positive(positive: Any, target: Column) -> Any:
    """``positive`` as a plain Python value: for an integer target "1", 1.0 or np.int64(1) -> 1."""
    if target.kind != "integer" or isinstance(positive, (bool, np.bool_)):
        return positive.item() if isinstance(positive, np.generic) else positive
    if isinstance(positive, str) and positive.strip() in ("0", "1"):
        return int(positive.strip())
    if isinstance(positive, numbers.Real) and float(positive).is_integer():
        return int(positive)
    return positive


# --------------------------------------------------------------------------------------------
# Checking a table
# --------------------------------------------------------------------------------------------
























# --------------------------------------------------------------------------------------------
# Restoring dtypes
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> str:
    """A value as a reader writes it: ``-99``, not ``np.int64(-99)``; text in quotes."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value) if isinstance(value, str) else str(value)
