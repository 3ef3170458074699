"""Studies: loss variants compared over several corpora and seeds.

* :mod:`.design`: the runs a study is made of (namespaces, parameters, datasets).
* :mod:`.tables`: every run's fold metrics gathered, summarised and tested.
* :mod:`.comparison`: the tests over blocks (Friedman, Wilcoxon, Holm; Demšar, JMLR 2006).
* :mod:`.report`: the study's Markdown report.
"""
