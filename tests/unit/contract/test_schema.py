"""The schema itself: declarations checked at construction, targets, ids, roles, the JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from closedloop.contract.schema import Column, Schema, SchemaError, load_schema
from closedloop.contract.telco import TELCO_SCHEMA
from closedloop.contract.validation import DataContractError, restore_dtypes, validate

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "loans.schema.json"

ID = Column("id", "id")
X = Column("x", "float", low=0)


def schema(*columns: Column, target: str = "y", positive: object = 1, **roles) -> Schema:
    """A small schema: an id, one float feature, the given columns (the target among them)."""
    return Schema("toy", (ID, X, *columns), target=target, positive=positive,
                  entity_id=roles.pop("entity_id", "id"), **roles)


def problems(**kwargs) -> list[str]:
    """The problems of the declaration ``schema(**kwargs)`` (fails the test if it is valid)."""
    columns = kwargs.pop("columns", (Column("y", "integer", low=0, high=1),))
    with pytest.raises(SchemaError) as info:
        schema(*columns, **kwargs)
    return info.value.problems


def from_dict_problems(spec: object) -> list[str]:
    with pytest.raises(SchemaError) as info:
        Schema.from_dict(spec)
    return info.value.problems


# --------------------------------------------------------------------------------------------
# Invalid declarations: one SchemaError naming every problem
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("columns, kwargs, expected", [
    ((Column("y", "integer", low=0, high=1), Column("z", "text")), {}, "unknown kind 'text'"),
    ((Column("y", "category", ("no", "yes")),), {"positive": "Yes"},
     "positive 'Yes' is not a value"),
    ((Column("y", "integer", low=0, high=1),), {"positive": 2}, "positive 2 is not a value"),
    ((Column("y", "integer", low=0, high=1),), {"positive": "yes"},
     "positive 'yes' is not a value"),
    ((Column("y", "boolean"),), {"positive": "true"}, "expected true or false"),
    ((Column("y", "integer", low=0, high=1), Column("c", "category")), {},
     "column 'c': a category column needs its list of categories"),
    ((Column("y", "integer", low=0, high=1), Column("n", "float", low=5, high=1)), {},
     "column 'n': low 5 is above high 1"),
    ((Column("y", "integer", low=0, high=1),), {"target": "label"}, "target: no column 'label'"),
    ((Column("y", "integer", low=0, high=1),), {"entity_id": "key"},
     "entity_id: no column 'key'"),
    ((Column("y", "integer", low=0, high=1),), {"timestamp": "when"},
     "timestamp: no column 'when'"),
    ((Column("y", "integer", low=0, high=1),), {"passthrough": ("name",)},
     "passthrough: no column 'name'"),
    ((Column("y", "integer", low=0, high=1),), {"passthrough": ("id",)},
     "column 'id' has two roles: entity_id and passthrough"),
    ((Column("y", "integer", low=0, high=1), Column("x", "float")), {},
     "column 'x' is declared twice"),
    ((Column("y", "float"),), {}, "target 'y' is of kind 'float'"),
    ((Column("y", "category", ("a", "b", "c")),), {"positive": "a"},
     "target 'y' has 3 categories; a target has exactly two"),
    ((Column("y", "integer"),), {}, "must declare low 0 and high 1"),
    ((Column("y", "integer", low=0, high=1),), {"entity_id": "x"},
     "entity_id 'x' is of kind 'float'; it must be 'id'"),
    ((Column("y", "integer", low=0, high=1),), {"timestamp": "x"},
     "timestamp 'x' is of kind 'float'; it must be 'timestamp'"),
], ids=["unknown-kind", "positive-not-a-category", "positive-not-0-1", "positive-text",
        "positive-not-a-bool", "category-without-categories", "low-above-high",
        "missing-target", "missing-entity-id", "missing-timestamp", "missing-passthrough",
        "two-roles", "duplicate-column", "float-target", "three-category-target",
        "unbounded-integer-target", "entity-id-kind", "timestamp-kind"])
def test_an_invalid_declaration_names_its_problem(columns, kwargs, expected):
    found = problems(columns=columns, **kwargs)
    assert any(expected in p for p in found), found


def test_every_problem_is_reported_at_once():
    with pytest.raises(SchemaError) as info:
        Schema("bad", (ID, Column("x", "text"), Column("c", "category"), Column("x", "float"),
                       Column("y", "integer", low=0, high=1)),
               target="y", positive=7, entity_id="id", timestamp="when")
    err = info.value
    assert len(err.problems) == 5, err.problems
    assert str(err).startswith("schema 'bad': invalid schema (5 problems):")
    assert str(err).count("\n  - ") == 5
    assert isinstance(err, ValueError)


def test_one_problem_is_one_line():
    with pytest.raises(SchemaError, match=r"^schema 'toy': target: no column 'label'$"):
        schema(Column("y", "integer", low=0, high=1), target="label")


def test_a_passthrough_id_column_needs_no_categories():
    toy = schema(Column("y", "integer", low=0, high=1), Column("surname", "id", nullable=True),
                 passthrough=("surname",))
    frame = pd.DataFrame({"id": ["a", "b"], "x": [1.0, 2.0], "y": [0, 1],
                          "surname": ["Smith", None]})
    assert validate(frame, toy) is frame


# --------------------------------------------------------------------------------------------
# Targets: integer 0/1, boolean, two-value text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("positive", [1, "1", 1.0, np.int64(1)], ids=["int", "text", "float",
                                                                       "numpy"])
def test_an_integer_target_takes_1_in_any_spelling(positive):
    toy = schema(Column("y", "integer", low=0, high=1), positive=positive)
    assert toy.positive == 1 and type(toy.positive) is int
    frame = pd.DataFrame({"y": [0, 1, 1, 0]})
    assert toy.target_as_int(frame).tolist() == [0, 1, 1, 0]
    assert json.loads(json.dumps(toy.to_dict()))["positive"] == 1


def test_an_integer_target_with_positive_0():
    toy = schema(Column("y", "integer", low=0, high=1), positive=0)
    assert toy.target_as_int(pd.DataFrame({"y": [0, 1]})).tolist() == [1, 0]


def test_a_boolean_target():
    toy = schema(Column("y", "boolean"), positive=True)
    frame = pd.DataFrame({"id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0], "y": [True, False, True]})
    validate(frame, toy)
    assert toy.target_as_int(frame).tolist() == [1, 0, 1]
    assert Schema.from_dict(json.loads(json.dumps(toy.to_dict()))) == toy


def test_a_boolean_column_is_restored_from_text():
    toy = schema(Column("y", "boolean"), positive=True)
    text = pd.DataFrame({"id": ["a", "b"], "x": ["1.5", "2"], "y": ["True", "false"]})
    restored = validate(restore_dtypes(text, toy), toy)
    assert restored["y"].tolist() == [True, False] and restored["y"].dtype == bool
    with pytest.raises(DataContractError, match="not true/false"):
        restore_dtypes(text.assign(y=["True", "maybe"]), toy)


def test_a_two_value_text_target():
    toy = schema(Column("y", "category", ("stay", "leave")), positive="leave")
    assert toy.target_as_int(pd.DataFrame({"y": ["leave", "stay"]})).tolist() == [1, 0]


# --------------------------------------------------------------------------------------------
# Ids: integer or text, always text after restore_dtypes
# --------------------------------------------------------------------------------------------


def test_integer_ids_pass_and_are_restored_to_text():
    toy = schema(Column("y", "integer", low=0, high=1))
    frame = pd.DataFrame({"id": [17, 18, 19], "x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    validate(frame, toy)
    restored = restore_dtypes(frame, toy)
    assert restored["id"].tolist() == ["17", "18", "19"]
    validate(restored, toy)


def test_ids_that_drifted_to_float_are_restored_without_the_decimal():
    toy = schema(Column("y", "integer", low=0, high=1))
    frame = pd.DataFrame({"id": [17.0, 18.0], "x": [1.0, 2.0], "y": [0, 1]})
    assert restore_dtypes(frame, toy)["id"].tolist() == ["17", "18"]


def test_a_csv_read_as_text_gives_the_same_ids(tmp_path):
    toy = schema(Column("y", "integer", low=0, high=1))
    frame = pd.DataFrame({"id": [17, 18], "x": [1.0, 2.0], "y": [0, 1]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    typed = restore_dtypes(pd.read_csv(tmp_path / "t.csv"), toy)
    text = restore_dtypes(pd.read_csv(tmp_path / "t.csv", dtype=str), toy)
    pd.testing.assert_frame_equal(typed, text)
    assert text["id"].tolist() == ["17", "18"]


# --------------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------------


def test_passthrough_columns_are_carried_not_features():
    toy = schema(Column("y", "integer", low=0, high=1), Column("when", "timestamp"),
                 Column("branch", "category", ("north", "south")),
                 timestamp="when", passthrough=("branch",))
    assert toy.feature_names == ["x"]
    assert toy.carried == ["branch"]
    assert toy.categorical == [] and toy.numeric == ["x"]
    assert Schema.from_dict(json.loads(json.dumps(toy.to_dict()))) == toy


def test_model_input_needs_no_passthrough_column():
    toy = schema(Column("y", "integer", low=0, high=1), Column("surname", "id"),
                 passthrough=["surname"])
    model_input = pd.DataFrame({"x": [1.0]})
    assert validate(model_input, toy, require_target=False, require_id=False) is model_input


# --------------------------------------------------------------------------------------------
# Messages about a table: plain numbers, counts and row positions
# --------------------------------------------------------------------------------------------


def test_range_errors_give_count_rows_and_plain_values():
    toy = schema(Column("y", "integer", low=0, high=1), Column("n", "integer", low=0))
    n = np.arange(300)
    n[[4, 17, 230]] = [-99, -1, -5]
    frame = pd.DataFrame({"id": [str(i) for i in n], "x": 1.0, "y": 0, "n": n})
    with pytest.raises(DataContractError) as info:
        validate(frame, toy)
    assert "  - n: 3 value(s) below 0 (rows 4, 17, 230): -99, -1, -5" in str(info.value)
    assert "np." not in str(info.value)


def test_unknown_categories_and_nulls_give_rows():
    toy = schema(Column("y", "category", ("no", "yes")), positive="yes")
    frame = pd.DataFrame({"id": list("abcd"), "x": [1.0, np.nan, 2.0, 3.0],
                          "y": ["no", "maybe", "yes", "maybe"]})
    message = str(pytest.raises(DataContractError, validate, frame, toy).value)
    assert "x: 1 null value(s) in a non-nullable column (row 1)" in message
    assert "y: 2 value(s) not among the categories (rows 1, 3): 'maybe'" in message


def test_restore_errors_give_plain_values():
    toy = schema(Column("y", "integer", low=0, high=1))
    frame = pd.DataFrame({"id": ["a", "b"], "x": ["1", "lots"], "y": [0.0, 0.5]})
    message = str(pytest.raises(DataContractError, restore_dtypes, frame, toy).value)
    assert "x: 1 value(s) not numbers (row 1): 'lots'" in message
    assert "y: 1 value(s) not integers (row 1): 0.5" in message


# --------------------------------------------------------------------------------------------
# The JSON form and the file
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [
    ({}, "missing keys 'name', 'columns'"),
    ([], "expected a JSON object with keys name, columns, target, positive, entity_id"),
    ("loans", "got a string"),
    ({"name": "x", "columns": [], "target": "y", "positive": 1, "entity_id": "id",
      "extra": 1}, "unknown key 'extra'"),
    ({"name": "x", "columns": {}, "target": "y", "positive": 1, "entity_id": "id"},
     "'columns' must be a list"),
    ({"name": "x", "columns": [{"name": "id"}], "target": "y", "positive": 1,
      "entity_id": "id"}, "column 'id': 'kind' must be given"),
    ({"name": "x", "columns": [{"name": "id", "kind": "id", "colour": "red"}], "target": "y",
      "positive": 1, "entity_id": "id"}, "column 'id': unknown key 'colour'"),
], ids=["empty", "list", "string", "unknown-key", "columns-not-a-list", "column-without-kind",
        "column-unknown-key"])
def test_from_dict_names_what_is_expected(spec, expected):
    found = from_dict_problems(spec)
    assert any(expected in p for p in found), found


def test_from_dict_names_every_missing_key_in_one_line():
    assert from_dict_problems({}) == [
        "missing keys 'name', 'columns', 'target', 'positive', 'entity_id' (expected a JSON "
        "object with keys name, columns, target, positive, entity_id (optional: timestamp, "
        "passthrough))"]
    spec = {**TELCO_SCHEMA.to_dict(), "columns": "none"}
    del spec["target"]
    assert from_dict_problems(spec) == [
        "missing key 'target' (expected a JSON object with keys name, columns, target, "
        "positive, entity_id (optional: timestamp, passthrough))",
        "'columns' must be a list of column objects; got a string"]


def test_from_dict_reads_positive_as_text_for_an_integer_target():
    spec = json.loads(EXAMPLE.read_text())
    assert Schema.from_dict({**spec, "positive": "1"}).positive == 1
    assert any("positive 'yes'" in p for p in from_dict_problems({**spec, "positive": "yes"}))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schema.json"
    path.write_text(text)
    return path


def test_load_schema_names_file_line_and_column_of_malformed_json(tmp_path):
    path = write(tmp_path, '{\n  "name": "x",\n  "columns": []\n  "target": "y"\n}')
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    assert str(info.value) == f"{path}: line 4 column 3: Expecting ',' delimiter"


@pytest.mark.parametrize("text, expected", [
    ("{}", "missing keys 'name', 'columns'"), ("[]", "expected a JSON object"),
], ids=["empty-object", "list"])
def test_load_schema_names_the_file_of_an_invalid_schema(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    assert str(info.value).startswith(f"{path}: ")
    assert expected in str(info.value)


def test_load_schema_of_a_folder_or_a_missing_file(tmp_path):
    with pytest.raises(SchemaError, match="is a folder"):
        load_schema(tmp_path)
    with pytest.raises(SchemaError, match="no such file") as info:
        load_schema(tmp_path / "absent.json")
    assert str(tmp_path / "absent.json") in str(info.value)


def test_the_example_file_loads():
    loans = load_schema(EXAMPLE)
    assert loans.target == "defaulted" and loans.positive == 1
    assert loans.timestamp is None and loans.carried == ["surname"]
    assert loans.feature_names == ["income", "debt_ratio", "purpose", "term_months",
                                   "credit_score", "previous_defaults"]
    table = pd.read_csv(EXAMPLE.with_name("loans.csv"))   # the table the example describes
    restored = validate(restore_dtypes(table, loans), loans)
    assert restored["loan_id"].head(2).tolist() == ["100001", "100002"]
    assert set(loans.target_as_int(restored)) == {0, 1}


def test_telco_still_constructs_and_round_trips():
    spec = json.loads(json.dumps(TELCO_SCHEMA.to_dict()))
    assert Schema.from_dict(spec) == TELCO_SCHEMA
    assert Schema.from_dict(spec).to_dict() == TELCO_SCHEMA.to_dict()
    assert TELCO_SCHEMA.carried == [] and "customerID" not in TELCO_SCHEMA.feature_names


def test_a_schema_dict_from_before_passthrough_still_reads():
    spec = TELCO_SCHEMA.to_dict()
    del spec["passthrough"]
    assert Schema.from_dict(spec) == TELCO_SCHEMA
