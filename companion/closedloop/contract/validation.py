"""Checking a table against its contract, and giving it the contract's types.

:func:`validate` raises one :class:`DataContractError` listing every problem of a table (missing
or unexpected columns, dtypes, nulls, unknown categories, out-of-range values, numbers sent as
text), each with the count of offending rows, the first row positions and plain values.
:func:`restore_dtypes` turns text read from a CSV file into the contract's types.

See Also
--------
Chapter :doc:`Data contract and features </book/02_data_contract>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import _SHOWN, Column, Schema, _plain


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


_TRUE, _FALSE = ("true", "1", "1.0", "yes"), ("false", "0", "0.0", "no")


def validate(df: pd.DataFrame, schema: Schema, *, require_target: bool = True,
             require_id: bool = True, allow_extra: Iterable[str] = ()) -> pd.DataFrame:
    """Check ``df`` against ``schema``; raise one :class:`DataContractError` listing every problem.

    Checks: empty frame, missing and extra columns, dtype, nulls in non-nullable columns, all-null
    columns, unknown category values and out-of-range numbers; each message gives the number of
    offending rows, the first few row positions (0-based) and values. Returns ``df`` unchanged,
    so it can be used inline. ``require_target=False`` accepts scoring input without the label,
    ``require_id=False`` input without the entity id and timestamp (a model's input);
    ``allow_extra`` names columns that may be present beyond the contract (e.g. a prediction
    id). Passthrough columns are always optional: they are checked when present and carried
    where they can go, but no model needs them (the inference log, for one, does not keep them).

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
    optional = ({schema.target} if not require_target else set()) | set(schema.passthrough) | (
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
    # Text without a single null is seen in one pass in C: isna() on text costs several.
    all_text = _all_text(values)
    missing = pd.Series(False, index=values.index) if all_text else values.isna()
    nulls = int(missing.sum())
    # An all-null column is what a column dropped upstream looks like; but a single row with a
    # null in a nullable column (one serving request) is just a null.
    if nulls == len(values) and (len(values) > 1 or not column.nullable):
        return [f"all {nulls} values are null"]
    problems = []
    if nulls and not column.nullable:
        problems.append(f"{nulls} null value(s) in a non-nullable column "
                        f"({_rows(missing.to_numpy())})")
    if column.kind in ("integer", "float"):
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            return problems + [f"dtype {values.dtype} is not numeric (expected {column.dtype})"]
        if column.kind == "integer" and not pd.api.types.is_integer_dtype(values):
            # Strict on purpose: int -> float is the silent drift restore_dtypes() exists to undo.
            problems.append(f"dtype {values.dtype} is not an integer dtype (expected int64; "
                            "restore_dtypes() converts whole-number floats)")
        problems.extend(_range_problems(values, column))
    elif column.kind == "category":
        if not (all_text or _is_text(values)):
            return problems + [f"dtype {values.dtype} is not text (expected categories)"]
        unknown = ~values.isin(column.categories) & ~missing
        if unknown.any():
            distinct = sorted(set(values[unknown].unique()))
            shown = ", ".join(repr(v) for v in distinct[:_SHOWN])
            more = f" and {len(distinct) - _SHOWN} more" if len(distinct) > _SHOWN else ""
            problems.append(f"{int(unknown.sum())} value(s) not among the categories "
                            f"({_rows(unknown.to_numpy())}): {shown}{more}; "
                            f"allowed: {list(column.categories)}")
    elif column.kind == "id" and not (all_text or _is_text(values) or _is_integer(values)):
        problems.append(f"dtype {values.dtype} is neither text nor integer "
                        "(expected an identifier)")
    elif column.kind == "timestamp" and not pd.api.types.is_datetime64_any_dtype(values):
        problems.append(f"dtype {values.dtype} is not a timestamp")
    elif column.kind == "boolean" and not pd.api.types.is_bool_dtype(values):
        problems.append(f"dtype {values.dtype} is not boolean (restore_dtypes() reads "
                        "true/false and 1/0)")
    return problems


def _all_text(values: pd.Series) -> bool:
    """Whether ``values`` is an object column of ``str`` only, without a null."""
    return pd.api.types.is_object_dtype(values.dtype) and pd.api.types.infer_dtype(
        values, skipna=False) == "string"


def _is_integer(values: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _is_text(values: pd.Series) -> bool:
    # The dtype, not the Series: on an object Series pandas also inspects the values and says
    # False as soon as one is null, which would reject every nullable category column with a null.
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = pd.Series(np.asarray(values.dropna().unique(), dtype=object))
    if pd.api.types.is_string_dtype(values.dtype):
        # One pass in C; "empty": every value is null.
        return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
    return False




def _rows(mask: np.ndarray) -> str:
    """``rows 4, 17, 230`` for the first offending row positions (0-based) of a boolean mask."""
    positions = np.flatnonzero(mask)
    shown = ", ".join(str(p) for p in positions[:_SHOWN])
    return f"row{'s' if len(positions) > 1 else ''} {shown}{', ...' * (len(positions) > _SHOWN)}"


def _offending(values: pd.Series, mask: pd.Series, what: str) -> str:
    """``3 value(s) below 0 (rows 4, 17, 230): -99, -1, -5``."""
    flags = mask.to_numpy(dtype=bool)
    shown = ", ".join(_plain(v) for v in values[flags].iloc[:_SHOWN])
    more = ", ..." if flags.sum() > _SHOWN else ""
    return f"{int(flags.sum())} value(s) {what} ({_rows(flags)}): {shown}{more}"


def text_numbers_message(count: int, rows: Sequence[int], values: Sequence[Any], kind: str
                         ) -> str:
    """The refusal of numbers that arrive as text in a numeric column (both scoring engines).

    ``count`` text values, the first at ``rows`` (0-based positions) holding ``values``.

    Examples
    --------
    >>> text_numbers_message(3, [0, 1, 2], ["12", "40", "3"], "integer")
    "3 value(s) arrive as text in an integer column (rows 0, 1, 2): '12', '40', '3'; numbers \
as text are refused, not parsed (fix the type upstream)"
    """
    rows, values = list(rows)[:_SHOWN], list(values)[:_SHOWN]
    more = ", ..." if count > len(rows) else ""
    shown = ", ".join(_plain(v) for v in values)
    where = f"row{'s' if count > 1 else ''} {', '.join(str(r) for r in rows)}{more}"
    return (f"{count} value(s) arrive as text in a{'n' * (kind == 'integer')} {kind} column "
            f"({where}): {shown}{more}; numbers as text are refused, not parsed (fix the type "
            "upstream)")


def text_numbers_problem(values: pd.Series, kind: str) -> str | None:
    """:func:`text_numbers_message` for the ``str`` values of a numeric column, or None.

    The rule of both scoring engines and of the inference log: a number that arrives as text
    (``"12"``) in an ``integer`` or ``float`` column is refused at the door, never parsed, so
    the type change upstream is seen rather than hidden.

    Examples
    --------
    >>> text_numbers_problem(pd.Series([1, 2]), "integer") is None
    True
    """
    if kind not in ("integer", "float") or pd.api.types.is_numeric_dtype(values.dtype):
        return None
    mask = values.map(lambda v: isinstance(v, str), na_action="ignore").fillna(False)
    mask = mask.to_numpy(dtype=bool)
    if not mask.any():
        return None
    positions = np.flatnonzero(mask)
    return text_numbers_message(int(mask.sum()), positions[:_SHOWN].tolist(),
                                values.to_numpy()[positions[:_SHOWN]].tolist(), kind)


def _range_problems(values: pd.Series, column: Column) -> list[str]:
    problems = []
    if column.low is not None:
        below = (values < column.low).fillna(False)
        if below.any():
            problems.append(_offending(values, below, f"below {_plain(column.low)}"))
    if column.high is not None:
        above = (values > column.high).fillna(False)
        if above.any():
            problems.append(_offending(values, above, f"above {_plain(column.high)}"))
    return problems


def restore_dtypes(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Return a copy of ``df`` with the contract's dtypes on every contract column present.

    Undoes the int-to-float drift that joins, ``concat`` with missing values or a round trip
    through another engine cause (``tenure`` 12 -> 12.0), reads text from a CSV read with
    ``dtype=str``, and turns ``id`` columns into text (17 -> ``"17"``), so every join downstream
    sees text ids. A cast that would change a value (12.5 in an integer column, a null in a
    non-nullable integer column, text in a numeric column) raises :class:`DataContractError`
    instead of truncating silently.

    Examples
    --------
    >>> from closedloop.contract.telco import TELCO_SCHEMA
    >>> restore_dtypes(pd.DataFrame({"customerID": [17, 18]}), TELCO_SCHEMA)["customerID"].tolist()
    ['17', '18']
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
                problems.append((column.name, _offending(values, bad, "not integers")))
                continue
            out[column.name] = numeric.astype("int64")
        elif column.kind == "float":
            numeric = pd.to_numeric(values, errors="coerce")
            bad = numeric.isna() & values.notna()
            if bad.any():
                problems.append((column.name, _offending(values, bad, "not numbers")))
                continue
            out[column.name] = numeric.astype("float64")
        elif column.kind in ("category", "id"):
            out[column.name] = _as_text(values)
        elif column.kind == "timestamp":
            out[column.name] = pd.to_datetime(values)
        elif column.kind == "boolean":
            restored = _as_bool(values)
            if isinstance(restored, str):
                problems.append((column.name, restored))
            else:
                out[column.name] = restored
    if problems:
        raise DataContractError(problems, schema.name)
    return out


def _as_text(values: pd.Series) -> pd.Series:
    """Text values as ``object``, nulls as None; numbers as their text (17 and 17.0 -> "17")."""
    if _all_text(values):
        return values  # text without a single null (one pass in C): nothing to convert
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "empty"):
        return values.astype("object").where(values.notna(), None)
    if _is_integer(values):  # the common case of numeric ids, vectorised
        return values.astype(str).astype("object")

    def text(value: Any) -> Any:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and value.is_integer():  # an integer id drifted to float
            return str(int(value))
        return str(value)

    return values.astype("object").map(text).astype("object")


def _as_bool(values: pd.Series) -> pd.Series | str:
    """A boolean column (``bool``, or ``boolean`` if it has nulls), or a message saying why not."""
    if pd.api.types.is_bool_dtype(values):
        return values
    words = values.astype("object").map(lambda v: str(v).strip().lower(), na_action="ignore")
    truth = words.isin(_TRUE)
    bad = values.notna() & ~truth & ~words.isin(_FALSE)
    if bad.any():
        return _offending(values, bad, "not true/false")
    if values.isna().any():
        return truth.astype("boolean").where(values.notna(), pd.NA)
    return truth.astype(bool)
