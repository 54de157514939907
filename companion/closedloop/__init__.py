"""closedloop: the companion package of *Closed-Loop MLOps*.

One module per stage of the loop. Importing the package does nothing but define names: no folders,
no tracking URI, no logging configuration.
"""

from closedloop.config import Workspace
from closedloop.data import (
    TELCO_SCHEMA,
    Column,
    DataContractError,
    DataUnavailableError,
    Schema,
    load_telco,
    restore_dtypes,
    validate,
)

__version__ = "0.1.0"

__all__ = [
    "Column",
    "DataContractError",
    "DataUnavailableError",
    "Schema",
    "TELCO_SCHEMA",
    "Workspace",
    "load_telco",
    "restore_dtypes",
    "validate",
]
