"""Evaluation: folds scored, models compared, the report written.

* :mod:`.scoring`: a fold's test part scored for any model (calibrated, both
  decision rules).
* :mod:`.baselines`: the linear references on the same folds (scikit-learn) and
  the convex fit of every loss of the family on the same inputs.
* :mod:`.significance`: paired tests between loss variants and an utterance bootstrap.
* :mod:`.frontier`: recognition against mistake severity, and its Pareto front.
* :mod:`.figures`: the report's figures.
* :mod:`.reporting`: the summary tables and the Markdown report.
* :mod:`.provenance`: the software and machine the figures depend on.
* :mod:`.setup_description`: the report's account of the run's set-up.
"""
