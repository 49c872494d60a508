"""The registered model's code, logged as MLflow "models from code".

``training.registry`` logs this file as the ``python_model`` (with the ``scoring``
package as ``code_paths``): MLflow runs it when the model is logged and again each time
it is loaded, and takes the model it sets. Nothing is pickled, so the registered model
loads wherever ``mlflow``, ``lightgbm``, ``scikit-learn``, ``pandas`` and ``babel`` are
installed — a Spark executor, ``mlflow models serve``, a clean environment without
leadscore — with the ``scoring`` code it was logged with, not whatever version the
loading machine has (MLflow puts the model's ``code`` folder first on ``sys.path``).

It is a script, not a module to import: running it is what sets the model.
"""

import mlflow.models

from scoring.pyfunc import LeadScorerModel

mlflow.models.set_model(LeadScorerModel())
