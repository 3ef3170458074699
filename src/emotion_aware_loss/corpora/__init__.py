"""Corpora: where the data comes in.

A corpus is one row per utterance (id, speaker, transcript, label, audio file):

* :mod:`.corpus`: :class:`~.corpus.AudioCorpus`, the checked table with its audio
  read lazily, one file at a time; :class:`~.corpus.CorpusError`.
* :mod:`.manifest`: reading a manifest table and checking it before any long work
  (columns, labels, speakers, audio files), naming the row at fault.
* :mod:`.layouts`: corpora named by their files (EmoDB, RAVDESS, nEMO, ShEMO): the
  registry of file-name layouts.
* :mod:`.demo`: the deterministic synthetic demo corpus.
* :mod:`.location`: local paths and fsspec URLs behind one small interface.

The Kedro dataset classes that read corpora for the catalog live in
:mod:`emotion_aware_loss.datasets`.
"""
