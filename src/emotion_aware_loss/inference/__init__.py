"""Using a trained model on new utterances.

* :mod:`.recognizer`: a trained model bundled with everything that turns raw audio
  and transcripts into its inputs (:class:`~.recognizer.EmotionRecognizer`).
* :mod:`.prediction`: :func:`~.prediction.predict`, emotions for new utterances
  with the saved final model (also ``emotion_aware_loss.predict``).
"""
