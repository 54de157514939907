"""A second, differently shaped table (loan default) and its contract, for tests beyond Telco."""

import numpy as np
import pandas as pd

from closedloop.contract.schema import Column, Schema

LOAN_SCHEMA = Schema(
    name="loans", target="defaulted", positive=1, entity_id="loan_id",
    columns=(
        Column("loan_id", "id"),
        Column("income", "float", low=0, high=1e7),
        Column("debt_ratio", "float", low=0, high=5, nullable=True),
        Column("purpose", "category", ("car", "home", "other")),
        Column("defaulted", "integer", low=0, high=1),
    ),
)


def make_loans(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    debt = rng.uniform(0, 2, rows)
    purpose = rng.choice(["car", "home", "other"], rows)
    logit = -2 + 2.5 * debt + (purpose == "other") * 1.0
    frame = pd.DataFrame({
        "loan_id": [f"L{i}" for i in range(rows)],
        "income": rng.lognormal(10, 0.5, rows),
        "debt_ratio": np.where(rng.random(rows) < 0.05, np.nan, debt),
        "purpose": purpose,
        "defaulted": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64"),
    })
    return frame
