"""Features: what a model reads of an utterance.

* :mod:`.extraction`: a corpus's acoustic features, utterance by utterance, to disk,
  with the feature set named by ``preprocessing.acoustic.feature`` (the sets are
  registered in :mod:`emotion_aware_loss.config.feature_sets`).
* :mod:`.acoustic`: librosa frames (log-mel, MFCC) and functionals.
* :mod:`.descriptors`: the broad functionals (many descriptors times many statistics).
* :mod:`.opensmile`: openSMILE's standard sets (the ``egemaps`` extra).
* :mod:`.encoders`: frozen pre-trained encoders exported to ONNX (the ``encoders`` extra).
* :mod:`.text`: transcript normalisation, vocabulary and token ids.
* :mod:`.store`: feature arrays on disk, read a batch of rows at a time.
"""
