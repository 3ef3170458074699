"""Folds: a corpus's utterances made into the inputs of each cross-validation fold.

* :mod:`.model_inputs`: the utterance table (labels mapped to the configured
  classes, transcripts normalised) and the input spec every model is built from.
* :mod:`.cross_validation`: fold assignment (stratified, speaker-independent where
  speakers are known), the per-fold transforms fitted on training data only, and
  :class:`~.cross_validation.FoldInputs`, what a fold's models read.
* :mod:`.speakers`: per-speaker normalisation of acoustic features.
"""
