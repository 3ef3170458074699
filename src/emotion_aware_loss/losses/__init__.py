"""The method: how alike emotions are, the losses that use it, and how mistakes are scored.

* :mod:`.similarity`: similarity matrices over the emotion classes and their
  sources (fixed, from confusions, from embeddings), and the cost of a mistake.
* :mod:`.family`: the loss family (emotion-aware, soft targets, expected cost, ...)
  written the way Keras writes its own, with the registry every loss is declared in
  (:func:`~.family.register_loss`).
* :mod:`.metrics`: metrics (UAR, mistake severity, calibration error) and decision
  rules (most probable class, minimum expected cost).
* :mod:`.sweeps`: a loss variant that lists values of its hyper-parameter,
  expanded into one variant per value.

Nothing here reads the run's configuration: :mod:`emotion_aware_loss.config`
validates against these registries.
"""
