"""Running: what a ``kedro run`` adds around the pipelines.

* :mod:`.hooks`: the project's hooks (the run's layout from its parameters,
  TensorFlow's threads, the progress display), registered in ``settings.py``.
* :mod:`.display`: the run's progress display and its estimate of the time left.
* :mod:`.runners`: a runner that runs each node as a task on a Dask cluster.
* :mod:`.tracking`: optional MLflow tracking through kedro-mlflow.
"""
