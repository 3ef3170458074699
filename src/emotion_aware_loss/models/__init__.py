"""Models: the networks and the linear models a run trains, and what combines them.

* :mod:`.inputs`: :class:`~.inputs.InputSpec`, the shapes and classes every model
  of a run is built for.
* :mod:`.network`: the two-branch speech + text fusion network.
* :mod:`.layers`: its custom Keras layers (registered for ``.keras`` loading).
* :mod:`.softmax_regression`: a softmax regression fitted the way scikit-learn fits
  its logistic regression, with any loss of the family.
* :mod:`.calibration`: temperature scaling of any model's probabilities.
* :mod:`.ensemble`: several trainings of one network, their probabilities averaged.
* :mod:`.blend`: a network and a linear model averaged, the weight chosen on
  held-out rows.
"""
