"""Write ``loans.csv``: the second, differently shaped table of the book and the tests.

A synthetic loan-default table, made to differ from Telco wherever a churn-only package would
break: integer ids, an integer 0/1 target, a carried-through text column that is not a feature
(``surname``), a zero-inflated count, a low-cardinality integer, nulls in a nullable column and a
non-linear default risk. Its contract is ``loans.schema.json`` beside this file, written by hand.

Run ``python examples/make_loans.py`` to write it again; the output is the same for the same seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

SURNAMES = ("Smith", "Garcia", "Chen", "Okafor", "Novak", "Silva", "Kowalski", "Haddad",
            "Nguyen", "Müller", "Rossi", "Tanaka", "Dubois", "Olsen", "Patel", "Jones")


def make_loans(rows: int = 6000, seed: int = 7) -> pd.DataFrame:
    """The loans table: one row per loan, ``defaulted`` = 1 if it defaulted within a year."""
    rng = np.random.default_rng(seed)
    income = np.round(rng.lognormal(10.8, 0.45, rows), 2)
    debt = np.round(rng.gamma(2.0, 0.18, rows).clip(0, 4.5), 3)
    purpose = rng.choice(["car", "home", "other"], rows, p=[0.45, 0.35, 0.20])
    term = rng.choice([12, 24, 36, 60], rows, p=[0.2, 0.3, 0.35, 0.15])
    score = rng.normal(680, 60, rows).round().clip(300, 850).astype("int64")
    previous = np.where(rng.random(rows) < 0.7, 0, rng.poisson(1.5, rows) + 1)
    logit = (-1.6 + 4.5 * np.maximum(debt - 0.35, 0) - 0.03 * (score - 680)
             + 1.2 * (previous > 0) + 0.6 * (term == 60) + 1.0 * (purpose == "other")
             - 1.2 * (np.log(income) - 10.8) + 1.5 * (debt > 0.8) * (score < 640))
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    debt_reported = np.where(rng.random(rows) < 0.06, np.nan, debt)
    return pd.DataFrame({
        "loan_id": np.arange(100_001, 100_001 + rows),
        "income": income,
        "debt_ratio": debt_reported,
        "purpose": purpose,
        "term_months": term,
        "credit_score": score,
        "previous_defaults": previous.astype("int64"),
        "surname": rng.choice(SURNAMES, rows),
        "defaulted": defaulted,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", default=str(Path(__file__).with_name("loans.csv")))
    args = parser.parse_args()
    make_loans(args.rows, args.seed).to_csv(args.output, index=False)


if __name__ == "__main__":
    main()
