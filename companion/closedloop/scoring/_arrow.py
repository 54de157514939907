"""The pandas engine's Arrow lane: a Parquet batch that plainly meets its contract, scored
without turning its text into Python strings.

:func:`~closedloop.scoring.batch.score_file` (pandas engine, a ``.parquet`` input, a model that
compiles) reads the file with Arrow, its category columns dictionary-encoded as Parquet stores
them, and asks :func:`plain_batch` whether every rule of the contract visibly holds: each
column present with a plain type (integers without nulls, numbers, text among the allowed
categories, text or integer ids without nulls, timestamps), no column outside the contract,
every number in range. Such a batch is encoded from its dictionaries
(:meth:`~closedloop.model.compiled.CompiledPredictor.matrix_arrow`) and its output file and log
batch are built column by column in Arrow (:func:`output_table`, :func:`log_table`).

Anything else (a null where none is allowed, a value outside the categories, numbers sent as
text, a type this lane does not read, a repeated prediction id) makes the lane step aside:
the pandas path then runs as it always did and names every problem. The lane never decides
that a batch is bad, and writes the same files as the pandas path (tested column by column).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.contract.schema import Column, Schema
from closedloop.scoring._columns import (
    MODEL_NAME,
    MODEL_VERSION,
    PREDICTION,
    PREDICTION_PROBA,
    RISK_TIER,
    SCORED_AT,
    output_arrow_schema,
)

if TYPE_CHECKING:
    import pyarrow as pa

#: Microseconds that pandas' nanosecond timestamps can hold (about the years 1677 to 2262).
_NANO_RANGE_US = (2**63 - 1) // 1000


def read_parquet(path: Any, schema: Schema) -> pa.Table | None:
    """The Parquet file at ``path`` as Arrow, category columns stored as text read as
    dictionaries; None when it cannot be read (the pandas path then says why)."""
    import pyarrow.parquet as pq

    try:
        stored = pq.read_schema(path)
        text = [c.name for c in schema.columns if c.kind == "category" and c.name in stored.names
                and _is_text_type(stored.field(c.name).type)]
        return pq.read_table(path, read_dictionary=text)
    except Exception:  # any reading problem is the pandas path's to report
        return None


def plain_batch(table: pa.Table, schema: Schema, allowed: Sequence[str]) -> bool:
    """Whether ``table`` passes :func:`~closedloop.scoring.batch.check_input` unchanged in
    value, as far as can be seen without Python objects.

    ``allowed`` names the columns beyond the contract the batch may have (the event time, the
    carried and allowed extra columns). False is no verdict: the pandas path decides.
    """
    names = table.column_names
    if table.num_rows == 0 or len(set(names)) != len(names):
        return False
    known = set(schema.names) | set(allowed)
    if any(name not in known for name in names):
        return False
    # What check_input requires: every contract column but the target and passthrough ones.
    optional = {schema.target, *schema.passthrough}
    return all(column.name in names and _plain_column(table.column(column.name), column)
               for column in schema.columns if column.name not in optional)


def _is_text_type(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _plain_column(values: pa.ChunkedArray, column: Column) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind, arrow_type, nulls = column.kind, values.type, values.null_count
    if kind == "integer":
        if not pa.types.is_integer(arrow_type) or arrow_type == pa.uint64() or nulls:
            return False
        extremes = pc.min_max(values).as_py()  # as integers: no float rounds them
        return _in_range(np.array([extremes["min"], extremes["max"]], dtype=object), column)
    if kind == "float":
        if not (pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)):
            return False
        try:
            found = numbers(values)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # an integer no float holds
            return False
        missing = int(np.isnan(found).sum())  # pandas counts NaN as null too
        if missing == len(found) or (missing and not column.nullable):
            return False
        return _in_range(found[~np.isnan(found)] if missing else found, column)
    if kind == "category":
        if not _is_text_type(arrow_type) or nulls == len(values) or (
                nulls and not column.nullable):
            return False
        allowed = set(column.categories)
        return all(set(_distinct(chunk)) <= allowed for chunk in values.chunks)
    if kind == "id":
        return not nulls and (_is_text_type(arrow_type) or (
            pa.types.is_integer(arrow_type) and arrow_type != pa.uint64()))
    if kind == "timestamp":
        return event_micros(values) is not None
    return False  # booleans and any other kind: the pandas path


def _distinct(chunk: pa.Array) -> list[Any]:
    """The distinct values of a text chunk (its dictionary's, when it has one), nulls left out."""
    import pyarrow as pa

    values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk.unique()
    return [v for v in values.to_pylist() if v is not None]


def numbers(values: pa.ChunkedArray) -> np.ndarray:
    """A numeric column as float64, nulls as NaN (what pandas holds for it)."""
    import pyarrow as pa

    return np.asarray(values.cast(pa.float64()).to_numpy(), dtype=np.float64)


def _in_range(values: np.ndarray, column: Column) -> bool:
    if not len(values):
        return True
    return ((column.low is None or values.min() >= column.low)
            and (column.high is None or values.max() <= column.high))


def event_micros(values: pa.ChunkedArray) -> np.ndarray | None:
    """Each timestamp as naive UTC microseconds, finer digits floored (what
    :func:`~closedloop.scoring.batch.score` keeps); None for another type, a null, or a time
    pandas cannot hold in nanoseconds."""
    import pyarrow as pa

    if not pa.types.is_timestamp(values.type) or values.null_count:
        return None
    # The stored integers are UTC instants whatever the zone, in the type's unit.
    raw = np.asarray(values.cast(pa.timestamp(values.type.unit)).cast(pa.int64()).to_numpy(),
                     dtype=np.int64)
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1}.get(values.type.unit)
    if scale is None:  # nanoseconds: floor division floors before 1970 too, as pandas does
        return raw // 1000
    if len(raw) and max(abs(int(raw.min())), abs(int(raw.max()))) > _NANO_RANGE_US // scale:
        return None
    return raw * scale


def text(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """A text or integer column as plain strings (``17`` -> ``"17"``, as
    :func:`~closedloop.contract.validation.restore_dtypes` gives ids)."""
    import pyarrow as pa

    return values.cast(pa.string())


def output_table(table: pa.Table, schema: Schema, proba: np.ndarray, prediction: np.ndarray,
                 tier: np.ndarray, model_name: str, model_version: str, when: pd.Timestamp,
                 carried: Sequence[str], time_column: str | None,
                 times_us: np.ndarray | None, entity: pa.ChunkedArray) -> pa.Table:
    """The output file's table (``output_arrow_schema``), as the pandas path writes it: the
    ids from ``entity`` (as :func:`text` gives them), the event time from ``times_us``, the
    other carried columns typed as pandas reads them."""
    import pyarrow as pa

    others = [c for c in carried if c != time_column]
    # The carried columns go through pandas exactly as the pandas path takes them, so their
    # stored types are inferred alike (a few columns, not the batch).
    frame = table.select(others).to_pandas() if others else None
    extra_frame = pd.DataFrame({c: (pd.Series(times_us.astype("datetime64[us]")
                                              .astype("datetime64[ns]"))
                                    if c == time_column else frame[c].to_numpy())
                                for c in carried})
    extra = pa.Schema.from_pandas(extra_frame, preserve_index=False) if carried else []
    target = output_arrow_schema(schema, extra)
    n = table.num_rows
    fixed = {
        schema.entity_id: entity,
        PREDICTION: pa.array(prediction, pa.int64()),
        PREDICTION_PROBA: pa.array(proba, pa.float64()),
        RISK_TIER: pa.array(tier, pa.string()),
        MODEL_NAME: pa.repeat(pa.scalar(model_name, pa.string()), n),
        MODEL_VERSION: pa.repeat(pa.scalar(model_version, pa.string()), n),
        SCORED_AT: pa.repeat(pa.scalar(when.to_pydatetime(), pa.timestamp("us")), n),
    }
    arrays = []
    for field in target:
        if field.name in fixed:
            arrays.append(fixed[field.name])
        elif field.name == time_column:
            arrays.append(pa.array(times_us, pa.timestamp("us")))
        else:
            arrays.append(pa.Table.from_pandas(extra_frame[[field.name]], schema=pa.schema(
                [field]), preserve_index=False).column(0))
    return pa.Table.from_arrays(arrays, schema=target)


def feature_arrays(table: pa.Table, schema: Schema) -> dict[str, Any]:
    """The contract's feature columns of ``table`` in the log's types (NaN stored as null);
    a text column read as a dictionary of strings stays one (the log's writer stores it as
    text, without hashing every value again)."""
    import pyarrow as pa

    from closedloop.monitoring.store import predictions_arrow_schema

    log_schema, out = predictions_arrow_schema(schema), {}
    for column in schema.features:
        values, field = table.column(column.name), log_schema.field(column.name)
        if column.kind == "float":  # NaN is a null to pandas, and so in the log
            out[column.name] = pa.array(numbers(values), field.type, from_pandas=True)
        elif values.type == pa.dictionary(pa.int32(), field.type):
            out[column.name] = values
        else:
            out[column.name] = values.cast(field.type)
    return out
