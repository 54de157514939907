"""A compiled scoring path: contract columns straight into the LightGBM booster.

The registered model is a scikit-learn pipeline
(:class:`~closedloop.contract.features.FeatureBuilder` then :class:`lightgbm.LGBMClassifier`).
Every call through it copies the frame, casts each categorical column to a pandas
``CategoricalDtype``, re-maps the codes inside LightGBM and converts the result to a matrix: for
one customer that is about a millisecond of pandas for a few microseconds of trees.
:class:`CompiledPredictor` does the same arithmetic once: each categorical column's ``category ->
code`` map is taken from the booster itself (the categories it was trained with, which the feature
builder fixed from the contract), numeric columns become float64, the built-in derived features are
computed in plain numpy (any other derived feature through its own ``compute``), and the float64
matrix goes to ``Booster.predict`` with an explicit thread count. The probabilities are those of
``pipeline.predict_proba(...)[:, 1]``, bit for bit: ``LGBMClassifier.predict_proba`` is
``Booster.predict`` with ``raw_score=False`` (the sigmoid of the binary objective) on the same
matrix.

Optionally (``pip install 'closedloop[native]'``), :meth:`CompiledPredictor.use_native` swaps
``Booster.predict`` for the same trees compiled to machine code by treelite and tl2cgen
(:class:`NativeTrees`): several times faster on this project's 300-tree model (see
``benchmarks/bench_scoring.py --compiled``), the probabilities checked equal to the booster's
on the first rows of every matrix (it steps aside, back to the booster, if they are not). The
library is built once per model (seconds to a minute) and cached by the model's digest.

The contract check stays in front: a frame goes through
:func:`~closedloop.contract.validation.validate` as the pyfunc does; records (one JSON object per row,
what a REST request carries) go through :meth:`CompiledPredictor.check_records`, which applies
the same rules value by value and says which row, field and value broke which rule.

See Also
--------
Chapter :doc:`Training, tuning and the registry </book/03_training>`.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from closedloop.contract.features import (
    AVG_PRICE_INCREASE,
    NUM_OPTIONAL_SERVICES,
    OPTIONAL_SERVICES,
    DerivedFeature,
    FeatureBuilder,
    default_derived,
)
from closedloop.contract.schema import Column, Schema
from closedloop.contract.validation import DataContractError, validate

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class RecordProblem:
    """One contract violation in one record: its row, field, offending value and the rule."""

    row: int
    field: str
    value: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "value": self.value,
                "message": self.message}


class RecordContractError(DataContractError):
    """Raised by :meth:`CompiledPredictor.check_records`; ``record_problems`` lists each
    :class:`RecordProblem` (``problems`` holds the ``(field, message)`` pairs, as
    :class:`~closedloop.contract.validation.DataContractError` does)."""

    def __init__(self, problems: list[RecordProblem], schema_name: str = "") -> None:
        self.record_problems = problems
        super().__init__([(p.field, f"row {p.row}: {p.message} (got {p.value!r})")
                          for p in problems], schema_name)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_))


class CompiledPredictor:
    """Score contract rows with the booster of a fitted pipeline, without the pipeline.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted ``[("features", FeatureBuilder), ("model", LGBMClassifier)]`` pipeline.
    threshold : float
        The decision threshold stored with the model.
    schema : Schema
        The model's data contract.
    model_name, model_version : str, optional
        Which registered version this is (reported, not used to predict).

    Examples
    --------
    >>> from closedloop.contract.telco import TELCO_SCHEMA, load_telco
    >>> from closedloop.model.train import build_pipeline
    >>> df = load_telco().head(400)
    >>> pipe = build_pipeline(TELCO_SCHEMA, {"n_estimators": 20})
    >>> pipe = pipe.fit(df, TELCO_SCHEMA.target_as_int(df))
    >>> compiled = CompiledPredictor(pipe, 0.5, TELCO_SCHEMA)
    >>> rows = df.drop(columns="Churn")
    >>> bool(np.array_equal(compiled.predict_proba(rows), pipe.predict_proba(rows)[:, 1]))
    True
    """

    def __init__(self, pipeline: Any, threshold: float, schema: Schema, *,
                 model_name: str | None = None, model_version: str | None = None) -> None:
        builder, model = pipeline.named_steps["features"], pipeline.named_steps["model"]
        if not isinstance(builder, FeatureBuilder):
            raise TypeError(f"the pipeline's features step is {type(builder).__name__}, "
                            "not a FeatureBuilder: it cannot be compiled")
        self.pipeline, self.threshold, self.schema = pipeline, float(threshold), schema
        self.model_name, self.model_version = model_name, model_version
        self.booster = model.booster_
        self.feature_names: list[str] = builder.feature_names()
        if list(self.booster.feature_name()) != self.feature_names:
            raise ValueError("the booster was trained on other columns than the feature "
                             f"builder produces: {self.booster.feature_name()}")
        self.derived: tuple[DerivedFeature, ...] = (
            default_derived(builder.schema) if builder.derived is None else tuple(builder.derived))
        # The codes LightGBM uses: position in the categories it was trained with (the pandas
        # categories of the training frame, in the order the categorical columns appear).
        trained = self.booster.pandas_categorical or []
        categorical = schema.categorical
        if len(trained) != len(categorical):
            raise ValueError(f"the booster knows {len(trained)} categorical columns, the "
                             f"contract declares {len(categorical)}")
        self.codes: dict[str, dict[Any, float]] = {
            name: {value: float(code) for code, value in enumerate(cats)}
            for name, cats in zip(categorical, trained)}
        self.categories: dict[str, list[Any]] = dict(zip(categorical, map(list, trained)))
        self._kinds = [(c.name, c.kind == "category") for c in schema.features]
        self._columns: dict[str, Column] = {c.name: c for c in schema.columns}
        self._inputs = set(schema.feature_names)
        self.native: NativeTrees | None = None  # see use_native
        self.native_refused: str | None = None  # why the native trees stepped aside

    # --------------------------------------------------------------------------- constructors

    @classmethod
    def from_model(cls, model: Any, *, model_name: str | None = None,
                   model_version: str | None = None) -> CompiledPredictor:
        """Compile a loaded :class:`~closedloop.model.registry.ClosedLoopModel`, or the MLflow
        pyfunc wrapping one (as :func:`~closedloop.model.registry.load_model` returns)."""
        unwrap = getattr(model, "unwrap_python_model", None)
        inner = unwrap() if unwrap is not None else model
        return cls(inner.pipeline, inner.threshold, inner.schema, model_name=model_name,
                   model_version=model_version)

    @classmethod
    def from_registry(cls, workspace: Any, alias_or_version: str = "champion", *,
                      model_name: str | None = None) -> CompiledPredictor:
        """Load ``alias_or_version`` of the registered model and compile it; an alias is first
        resolved to its version number, so the predictor names the version it holds."""
        from closedloop.model.registry import load_model

        name = workspace.model_name(model_name)
        version = str(alias_or_version)
        if not version.isdigit():
            version = str(workspace.client().get_model_version_by_alias(name, version).version)
        model = load_model(workspace, version, model_name=name)
        return cls.from_model(model, model_name=name, model_version=version)

    # --------------------------------------------------------------------------- the matrix

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """The booster's float64 input for ``frame`` (no contract check): what the pipeline's
        feature step and LightGBM's pandas conversion produce, unknown categories as NaN."""
        return self._matrix(_PandasRows(frame, self), len(frame))

    def matrix_arrow(self, table: pa.Table) -> np.ndarray:
        """:meth:`matrix` of an Arrow table holding the same values (text columns as strings
        or dictionaries): each categorical column is encoded through its dictionary (one
        lookup per distinct value, then one take), no Python string per row. A derived
        feature that is not built in is computed on a pandas copy of its input columns."""
        return self._matrix(_ArrowRows(table, self), table.num_rows)

    def _matrix(self, source: _Rows, n: int) -> np.ndarray:
        """The matrix of ``source``, encoded a block of rows at a time: each column is written
        whole into a block held column by column, which is then copied into the row-major
        matrix at once (writing columns straight into it strides through memory: 2-3x
        slower). A derived feature that is not built in is computed on the whole batch."""
        k = len(self.feature_names)
        X = np.empty((n, k), dtype=np.float64)
        block = np.empty((k, min(n, _BLOCK_ROWS)), dtype=np.float64)
        for start in range(0, n, _BLOCK_ROWS):
            stop = min(n, start + _BLOCK_ROWS)
            part = block[:, :stop - start]
            self._fill(part, source.rows(start, stop))
            X[start:stop] = part.T
        custom = [(j, f) for j, f in enumerate(self.derived, len(self._kinds))
                  if f not in (NUM_OPTIONAL_SERVICES, AVG_PRICE_INCREASE)]
        if custom:
            frame = source.frame()
            for j, feature in custom:
                X[:, j] = feature.compute(frame).to_numpy(dtype=np.float64)
        return X

    def _fill(self, part: np.ndarray, rows: _Rows) -> None:
        """Fill ``part`` (one row per feature, one column per batch row) from ``rows``; the
        rows of custom derived features are left for :meth:`_matrix`."""
        encoded: dict[str, np.ndarray] = {}  # each categorical column's codes (-1: unknown)
        j = 0
        for name, is_category in self._kinds:
            if is_category:
                encoded[name] = codes = rows.codes(name)
                np.copyto(part[j], codes, casting="unsafe")
                part[j, codes < 0] = np.nan
            else:
                part[j] = rows.numbers(name)
            j += 1
        for feature in self.derived:
            if feature == NUM_OPTIONAL_SERVICES:
                part[j] = np.sum([self._is_yes(c, encoded, rows) for c in OPTIONAL_SERVICES],
                                 axis=0, dtype=np.float64)
            elif feature == AVG_PRICE_INCREASE:
                part[j] = _avg_price_increase(rows.numbers("MonthlyCharges"),
                                              rows.numbers("TotalCharges"),
                                              rows.numbers("tenure"))
            j += 1

    def _is_yes(self, column: str, encoded: Mapping[str, np.ndarray],
                rows: _Rows) -> np.ndarray:
        """Whether each value of ``column`` is "Yes", from the column's codes when it was
        encoded (a value is "Yes" exactly when its code is that of "Yes"), else as text."""
        code = self.codes.get(column, {}).get("Yes")
        if column in encoded and code is not None:
            return encoded[column] == int(code)
        return rows.is_yes(column)

    def matrix_from_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The booster's input for records already checked by :meth:`check_records`: one
        Python loop per row, no pandas (a frame is built only for a derived feature that is
        not built in)."""
        rows = []
        custom = [f for f in self.derived if f not in (NUM_OPTIONAL_SERVICES, AVG_PRICE_INCREASE)]
        for record in records:
            row = []
            get = record.get
            for name, is_category in self._kinds:
                value = get(name)
                if is_category:
                    row.append(self.codes[name].get(value, math.nan))
                else:
                    row.append(math.nan if value is None else float(value))
            for feature in self.derived:
                if feature == NUM_OPTIONAL_SERVICES:
                    row.append(float(sum(get(c) == "Yes" for c in OPTIONAL_SERVICES)))
                elif feature == AVG_PRICE_INCREASE:
                    row.append(_avg_price_increase_one(get("MonthlyCharges"),
                                                       get("TotalCharges"), get("tenure")))
                else:
                    row.append(math.nan)  # filled below, for all rows at once
            rows.append(row)
        X = np.array(rows, dtype=np.float64).reshape(len(rows), len(self.feature_names))
        if custom:
            frame = pd.DataFrame.from_records(list(records))
            for feature in custom:
                X[:, self.feature_names.index(feature.name)] = feature.compute(frame).to_numpy(
                    dtype=np.float64)
        return X

    # --------------------------------------------------------------------------- the contract

    def check_records(self, records: Sequence[Mapping[str, Any]], *,
                      allow_extra: Sequence[str] = ()) -> None:
        """Check each record against the contract; raise :class:`RecordContractError` listing
        every problem (row, field, value).

        The rules of :func:`~closedloop.contract.validation.validate` for a model's input, value by
        value: every feature present; no field outside the contract (the entity id, timestamp
        and label are allowed, and ``allow_extra``); no null in a non-nullable column; numbers
        for numeric columns (whole numbers for integer ones, never booleans); text from the
        allowed categories for categorical ones; numbers inside ``[low, high]``.

        Examples
        --------
        >>> from closedloop.contract.telco import TELCO_SCHEMA, load_telco
        >>> from closedloop.model.train import build_pipeline
        >>> df = load_telco().head(300)
        >>> pipe = build_pipeline(TELCO_SCHEMA, {"n_estimators": 5})
        >>> compiled = CompiledPredictor(pipe.fit(df, TELCO_SCHEMA.target_as_int(df)), 0.5,
        ...                              TELCO_SCHEMA)
        >>> record = {**df.drop(columns="Churn").iloc[0].to_dict(), "tenure": -1, "x": 1}
        >>> try:
        ...     compiled.check_records([record])
        ... except RecordContractError as err:
        ...     print([(p.field, p.value) for p in err.record_problems])
        [('tenure', -1), ('x', 1)]
        """
        problems: list[RecordProblem] = []
        if len(records) == 0:
            problems.append(RecordProblem(0, "<request>", [], "no rows to score"))
        known = set(self._columns) | set(allow_extra)
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                problems.append(RecordProblem(i, "<row>", record, "a row must be a JSON object "
                                              "of field: value"))
                continue
            for name in self.schema.feature_names:
                if name not in record:
                    problems.append(RecordProblem(
                        i, name, None, f"missing (expected {self._columns[name].kind} field)"))
            for name, value in record.items():
                if name not in known:
                    problems.append(RecordProblem(i, str(name), value,
                                                  "unexpected field, not in the contract"))
                    continue
                message = _check_value(value, self._columns[name]) if name in self._columns \
                    else None
                if message:
                    problems.append(RecordProblem(i, name, value, message))
        if problems:
            raise RecordContractError(problems, self.schema.name)

    # --------------------------------------------------------------------------- predicting

    def predict_proba(self, frame: pd.DataFrame, *, check: bool = True,
                      num_threads: int | None = None) -> np.ndarray:
        """Probability of the positive class for each row of ``frame``.

        ``check`` validates the frame against the contract first (as the pyfunc does; columns
        beyond it are allowed). ``num_threads`` defaults to 1 for up to 1000 rows and to every
        core above.
        """
        if check:
            validate(frame, self.schema, require_target=False, require_id=False,
                     allow_extra=frame.columns)
        return self.predict_matrix(self.matrix(frame), num_threads=num_threads)

    def predict_records(self, records: Sequence[Mapping[str, Any]], *, check: bool = True,
                        num_threads: int = 1) -> np.ndarray:
        """Probability of the positive class for each record (a mapping of field to value)."""
        if check:
            self.check_records(records)
        return self.predict_matrix(self.matrix_from_records(records), num_threads=num_threads)

    def predict_matrix(self, X: np.ndarray, *, num_threads: int | None = None) -> np.ndarray:
        """``Booster.predict`` on a matrix from :meth:`matrix` (probabilities, not raw scores)."""
        if num_threads is None:
            num_threads = 1 if len(X) <= 1000 else 0  # 0: LightGBM's default, every core
        if self.native is not None:
            proba = self.native.predict(X, num_threads=num_threads)
            probe = X[:_NATIVE_PROBE]
            expected = self.booster.predict(probe, raw_score=False, num_threads=1)
            if np.array_equal(proba[:len(probe)], expected):
                return proba
            self.native_refused = (  # never again for this predictor: back to the booster
                "the native trees' probabilities differ from the booster's by up to "
                f"{float(np.max(np.abs(proba[:len(probe)] - expected))):.3g}")
            self.native = None
        return np.asarray(self.booster.predict(X, raw_score=False, num_threads=num_threads),
                          dtype=np.float64)

    def use_native(self, cache_dir: str | os.PathLike[str] | None = None) -> CompiledPredictor:
        """Predict with the trees compiled to machine code (:class:`NativeTrees`, the
        ``native`` extra: treelite and tl2cgen) instead of ``Booster.predict``; returns self.

        The first rows of every matrix are also scored by the booster and must be equal, bit
        for bit; if not, the predictor goes back to the booster for good (and says why in
        ``native_refused``). Raises ``ImportError`` naming the extra when it is not installed.
        """
        self.native, self.native_refused = NativeTrees(self.booster, cache_dir=cache_dir), None
        return self

    def predict(self, frame: pd.DataFrame, *, check: bool = True) -> pd.DataFrame:
        """``prediction`` and ``prediction_proba`` for each row, as the registered pyfunc
        returns them."""
        proba = self.predict_proba(frame, check=check)
        return pd.DataFrame({"prediction": (proba >= self.threshold).astype("int64"),
                             "prediction_proba": proba}, index=frame.index)


#: Rows of each matrix scored by both the native trees and the booster (they must agree).
_NATIVE_PROBE = 256


def native_cache_dir() -> Path:
    """Where :class:`NativeTrees` keeps its libraries: ``$CLOSEDLOOP_NATIVE_CACHE``, else
    ``closedloop-native`` in the system's temporary folder."""
    return Path(os.environ.get("CLOSEDLOOP_NATIVE_CACHE")
                or Path(tempfile.gettempdir()) / "closedloop-native")


class NativeTrees:
    """A LightGBM booster compiled to a shared library by treelite and tl2cgen.

    The library is named by the SHA-256 of the booster's model text and built only when the
    cache (``cache_dir``, default :func:`native_cache_dir`) does not hold it yet: written
    under a temporary name, then renamed, so concurrent builds never load a half-written
    file. Pickled with the library's bytes (Spark ships it to its workers that way).

    Parameters
    ----------
    booster : lightgbm.Booster
        A binary-objective booster.
    cache_dir : path, optional
        The folder of compiled libraries.

    Raises
    ------
    ImportError
        When treelite or tl2cgen is not installed (``pip install 'closedloop[native]'``).
    """

    def __init__(self, booster: Any, *, cache_dir: str | os.PathLike[str] | None = None
                 ) -> None:
        _native_modules()
        text = booster.model_to_string()
        self.key = hashlib.sha256(text.encode()).hexdigest()[:32]
        self.library = Path(cache_dir or native_cache_dir()) / f"{self.key}.so"
        if not self.library.exists():
            _build_library(text, self.library)
        self._predictors: dict[int, Any] = {}

    def predict(self, X: np.ndarray, *, num_threads: int = 0) -> np.ndarray:
        """Probabilities of the positive class for the float64 matrix ``X`` (the booster's
        input, NaN for missing); ``num_threads`` 0 means every core."""
        tl2cgen = _native_modules()[1]
        threads = num_threads if num_threads > 0 else (os.cpu_count() or 1)
        # tl2cgen refuses more threads than OpenMP allows, and Spark's Python workers run with
        # OMP_NUM_THREADS set to the task's cores.
        threads = min(threads, int(os.environ.get("OMP_NUM_THREADS") or threads))
        if threads not in self._predictors:
            self._predictors[threads] = tl2cgen.Predictor(str(self.library), nthread=threads)
        matrix = tl2cgen.DMatrix(np.ascontiguousarray(X, dtype=np.float64))
        proba = self._predictors[threads].predict(matrix)
        return np.asarray(proba, dtype=np.float64).reshape(len(X))

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self.key, "name": self.library.name, "blob": self.library.read_bytes()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.key, self._predictors = state["key"], {}
        self.library = native_cache_dir() / state["name"]
        if not self.library.exists():
            self.library.parent.mkdir(parents=True, exist_ok=True)
            partial = self.library.with_name(f".{self.library.name}.{os.getpid()}.tmp")
            partial.write_bytes(state["blob"])
            os.replace(partial, self.library)


def _native_modules() -> tuple[Any, Any]:
    try:
        import tl2cgen
        import treelite
    except ImportError as err:
        raise ImportError("native trees need treelite and tl2cgen: pip install "
                          "'closedloop[native]'") from err
    return treelite, tl2cgen


def _build_library(model_text: str, library: Path) -> None:
    """Compile ``model_text`` (a LightGBM model) to the shared library ``library``."""
    treelite, tl2cgen = _native_modules()
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent) as tmp:
        model_file = Path(tmp) / "model.txt"
        model_file.write_text(model_text)
        model = treelite.frontend.load_lightgbm_model(str(model_file))
        partial = Path(tmp) / library.name
        tl2cgen.export_lib(model, toolchain="gcc", libpath=str(partial),
                           params={"parallel_comp": os.cpu_count() or 1})
        os.replace(partial, library)


#: Rows encoded at a time by :meth:`CompiledPredictor.matrix` (a block of 22 features is
#: about 11 MB: the copy into the matrix stays in the cache's reach, and few blocks are made).
_BLOCK_ROWS = 65_536


class _Rows:
    """A batch's rows as the matrix reads them: categorical codes in the booster's categories
    (-1: unknown or null), numbers (NaN: null), "Yes" flags, by column."""

    def rows(self, start: int, stop: int) -> _Rows:
        raise NotImplementedError

    def codes(self, name: str) -> np.ndarray:
        raise NotImplementedError

    def numbers(self, name: str) -> np.ndarray:
        raise NotImplementedError

    def is_yes(self, name: str) -> np.ndarray:
        raise NotImplementedError

    def frame(self) -> pd.DataFrame:
        raise NotImplementedError


class _PandasRows(_Rows):
    def __init__(self, frame: pd.DataFrame, predictor: CompiledPredictor) -> None:
        self._frame, self._predictor = frame, predictor

    def rows(self, start: int, stop: int) -> _Rows:
        return _PandasRows(self._frame.iloc[start:stop], self._predictor)

    def codes(self, name: str) -> np.ndarray:
        # One hash lookup per row in C (pandas' categorical factorizer), no copy of the text
        # column; unknown values and nulls get -1.
        return pd.Categorical(self._frame[name].to_numpy(dtype=object, copy=False),
                              categories=self._predictor.categories[name]).codes

    def numbers(self, name: str) -> np.ndarray:
        return self._frame[name].to_numpy(dtype=np.float64, na_value=np.nan)

    def is_yes(self, name: str) -> np.ndarray:
        return self._frame[name].to_numpy(dtype=object) == "Yes"

    def frame(self) -> pd.DataFrame:
        return self._frame


class _ArrowRows(_Rows):
    def __init__(self, table: pa.Table, predictor: CompiledPredictor) -> None:
        self._table, self._predictor = table, predictor

    def rows(self, start: int, stop: int) -> _Rows:
        return _ArrowRows(self._table.slice(start, stop - start), self._predictor)

    def codes(self, name: str) -> np.ndarray:
        import pyarrow as pa

        known = self._predictor.codes[name]
        parts = [np.empty(0, np.int64)]
        for chunk in self._table.column(name).chunks:
            if not pa.types.is_dictionary(chunk.type):
                chunk = chunk.dictionary_encode()
            values = chunk.dictionary.to_pylist()
            # the last entry is the code of the nulls: -1, as pandas gives them
            lookup = np.array([known.get(v, -1) for v in values] + [-1], np.int64)
            parts.append(lookup[chunk.indices.fill_null(len(values)).to_numpy()])
        return np.concatenate(parts)

    def numbers(self, name: str) -> np.ndarray:
        import pyarrow as pa

        return np.asarray(self._table.column(name).cast(pa.float64()).to_numpy(), np.float64)

    def is_yes(self, name: str) -> np.ndarray:
        import pyarrow.compute as pc

        return np.asarray(pc.fill_null(pc.equal(self._table.column(name), "Yes"), False))

    def frame(self) -> pd.DataFrame:
        names = self._predictor.schema.feature_names
        return self._table.select([c for c in names if c in self._table.column_names]).to_pandas()


def _avg_price_increase(monthly: np.ndarray, total: np.ndarray,
                        tenure: np.ndarray) -> np.ndarray:
    # As closedloop.contract.features does: MonthlyCharges - TotalCharges / tenure, 0 at tenure 0.
    positive = tenure > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        average = total / np.where(positive, tenure, np.nan)
        return np.where(positive, monthly - average, 0.0)


def _avg_price_increase_one(monthly: Any, total: Any, tenure: Any) -> float:
    tenure = math.nan if tenure is None else float(tenure)
    if not tenure > 0:
        return 0.0
    monthly = math.nan if monthly is None else float(monthly)
    total = math.nan if total is None else float(total)
    return monthly - total / tenure


def _check_value(value: Any, column: Column) -> str | None:
    """Why ``value`` breaks ``column``'s rules (None: it does not)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None if column.nullable else "null in a non-nullable field"
    if column.kind in ("integer", "float"):
        if not _is_number(value):
            return f"not a number (expected {column.kind})"
        if column.kind == "integer" and not isinstance(value, (int, np.integer)):
            return "not a whole number (expected integer)"
        if isinstance(value, (float, np.floating)) and math.isinf(value):
            return "not a finite number"
        if column.low is not None and value < column.low:
            return f"below the minimum {column.low}"
        if column.high is not None and value > column.high:
            return f"above the maximum {column.high}"
    elif column.kind == "category":
        if not isinstance(value, str):
            return "not text (expected one of the categories)"
        if value not in column.categories:
            return f"unknown category; allowed: {list(column.categories)}"
    elif column.kind == "id" and not isinstance(value, str):
        return "not an identifier (expected text)"
    elif column.kind == "timestamp":
        try:
            pd.Timestamp(value)
        except (TypeError, ValueError):
            return "not a timestamp"
    return None
