"""Training many networks of one architecture as one stacked model.

A run trains the same network many times: every loss variant on every fold, the
refits, the ensemble members, a study's seeds. Each training alone is a string of
small matrix products (16 utterances at a time), bound by per-operation overhead
rather than arithmetic. Here all of them become one model whose every weight has a
leading *model* axis (as JAX users ``vmap`` over stacked parameters): one traced
training step updates every model at once, each on its own batches, with its own
loss, similarity matrix, class weights, early stopping and refit length.

* :mod:`.stacked_network`: a Keras functional model and M sets of its weights as
  one stacked forward pass.
* :mod:`.stack`: the jobs (one per model) and the training loop: batches,
  Adam, metrics, early stopping, best-epoch restore, refit, NaN handling.
"""
