"""MLflow "models from code" entry point: logged with every model instead of a pickled object.

MLflow executes this file when the model is loaded; it needs ``closedloop`` to be importable.
"""

import mlflow

from closedloop.model.registry import ClosedLoopModel

mlflow.models.set_model(ClosedLoopModel())
