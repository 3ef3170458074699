"""The runs a study is made of: their namespaces, parameters and datasets.

A study (``kedro run --pipelines=study``) runs the cross-validation once per corpus
and seed listed in the ``study`` parameters. The corpus's preprocessing is the
namespace ``study.<corpus>``; each run's folds, training, baselines and evaluation
are the namespace ``study.<corpus>.seed_<seed>``. Their parameters and datasets are
derived from the project's own, so a study needs no copy of either:

* parameters: ``StudyConfigLoader`` adds every run's merged parameters under its
  namespace (``study.<corpus>.seed_<seed>.training``, ...), where the namespaced
  nodes read them and where Kedro validates them like any other parameter;
* datasets: every catalog entry (or factory) whose file lies in a data layer
  (``02_intermediate`` ... ``08_reporting``) gets two namespaced factories,
  ``study.{study_corpus}.<entry>`` and ``study.{study_corpus}.seed_{study_seed}.<entry>``,
  whose files sit under ``<data_root>/study/<corpus>/`` and
  ``<data_root>/study/<corpus>/seed_<seed>/``: every run keeps its own models,
  report and versions. Raw data (``01_raw``) is shared.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from kedro.config import OmegaConfigLoader
from pydantic import ValidationError

from emotion_aware_loss.config import StudyConfig
from emotion_aware_loss.config.layout import Layout, layout_from_parameters
from emotion_aware_loss.losses.sweeps import expand_sweeps

STUDY_KEY = "study"
# Catalog entries the study's aggregation writes itself (not copied per run).
AGGREGATE_PREFIX = "study_"
_LAYER = re.compile(r"(^|/)(0[2-8]_[A-Za-z_]+/)")


@dataclass(frozen=True)
class StudyRun:
    """One cross-validation run of a study: a corpus and a seed."""

    corpus: str
    seed: int
    precomputed: bool = False

    @property
    def namespace(self) -> str:
        """The run's namespace (folds, training, baselines, evaluation)."""
        return f"{STUDY_KEY}.{self.corpus}.seed_{self.seed}"

    @property
    def corpus_namespace(self) -> str:
        """The namespace of the corpus's preprocessing, shared by its seeds."""
        return f"{STUDY_KEY}.{self.corpus}"

    @property
    def key(self) -> str:
        """The run's name as a node input (``<corpus>__seed_<seed>``)."""
        return f"{self.corpus}__seed_{self.seed}"


def parse_run_key(key: str) -> tuple[str, int]:
    """``(corpus, seed)`` from ``StudyRun.key``."""
    corpus, _, seed = key.rpartition("__seed_")
    return corpus, int(seed)


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``: mappings merge key by key, the rest replaces.

    A dotted key in ``override`` (``"model.modalities"``) sets one nested value.
    Neither argument is changed.
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        *parents, leaf = str(key).split(".")
        node = out
        for parent in parents:
            if not isinstance(node.get(parent), dict):
                node[parent] = {}
            node = node[parent]
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf] = merged(node[leaf], value)
        else:
            node[leaf] = copy.deepcopy(value)
    return out


def study_config(params: dict[str, Any]) -> StudyConfig | None:
    """The validated ``study`` block (``None`` when there is none).

    Raises:
        ValueError: If the block is malformed; the message names the key.
    """
    raw = params.get(STUDY_KEY)
    if not raw:
        return None
    corpora = raw.get("corpora") or {}
    # the per-corpus blocks StudyConfigLoader adds are not part of the design
    design = {k: v for k, v in raw.items() if k not in corpora}
    try:
        return StudyConfig.model_validate(design)
    except ValidationError as exc:
        raise ValueError(f"the study parameters (key '{STUDY_KEY}'): {exc}") from exc


def corpus_parameters(
    params: dict[str, Any], config: StudyConfig, corpus: str
) -> dict[str, Any]:
    """The parameters of ``corpus``'s runs, before the seed is set.

    Raises:
        ValueError: If ``study.variants`` names a variant that is not configured.
    """
    base = {k: v for k, v in params.items() if k != STUDY_KEY}
    out = merged(merged(base, config.parameters), config.corpora[corpus].parameters)
    if config.variants is not None:
        variants = out.get("loss_variants") or {}
        missing = [name for name in config.variants if name not in variants]
        if missing:
            raise ValueError(
                f"study.variants {missing} are not loss_variants of corpus "
                f"{corpus!r} ({sorted(variants)})"
            )
        out["loss_variants"] = {name: variants[name] for name in config.variants}
    return out


def study_runs(params: dict[str, Any]) -> dict[StudyRun, Layout]:
    """Every run of the study with its pipelines' layout (empty without a study).

    Raises:
        ValueError: If the design cannot be compared (fewer than two corpus × seed
            blocks, a reference that is not a variant) or a run's parameters
            describe no valid layout; the message names the corpus.
    """
    config = study_config(params)
    if config is None:
        return {}
    if len(config.corpora) * len(config.seeds) < 2:
        raise ValueError(
            "a study compares over corpus × seed blocks and needs at least two: "
            f"got corpora {list(config.corpora)} and seeds {config.seeds}"
        )
    runs = {}
    for corpus, spec in config.corpora.items():
        parameters = corpus_parameters(params, config, corpus)
        if config.tests.reference not in (parameters.get("loss_variants") or {}):
            raise ValueError(
                f"study.tests.reference {config.tests.reference!r} is not one of the "
                f"loss_variants of corpus {corpus!r} "
                f"({sorted(parameters.get('loss_variants') or {})})"
            )
        try:
            layout = layout_from_parameters(parameters)
        except ValueError as exc:
            raise ValueError(f"study corpus {corpus!r}: {exc}") from exc
        for seed in config.seeds:
            runs[StudyRun(corpus, seed, spec.precomputed)] = layout
    return runs


def with_study_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` plus every corpus's and run's parameters under its namespace.

    ``study.<corpus>`` holds the corpus's parameters (read by its preprocessing)
    and ``study.<corpus>.seed_<seed>`` the run's (the same with ``seed`` set).
    """
    try:
        config = study_config(params)
        if config is None:
            return params
        # the defaults of omitted blocks, so `params:study.tests` always exists
        block = {"tests": config.tests.model_dump()} | dict(params[STUDY_KEY])
        for corpus in config.corpora:
            shared = corpus_parameters(params, config, corpus)
            block[corpus] = shared | {
                f"seed_{seed}": shared | {"seed": seed} for seed in config.seeds
            }
    except ValueError:
        # A study that cannot be built must not stop the other pipelines; running
        # it raises the error (pipelines.study.registered_pipeline).
        return params
    return params | {STUDY_KEY: block}


def _moved(config: dict[str, Any], folder: str) -> dict[str, Any] | None:
    """``config`` with its file moved into ``folder`` under the data root."""
    moved = {}
    for key in ("filepath", "path"):
        value = config.get(key)
        if isinstance(value, str) and _LAYER.search(value):
            moved[key] = _LAYER.sub(rf"\g<1>{folder}\g<2>", value, count=1)
    return config | moved if moved else None


def with_study_datasets(catalog: dict[str, Any]) -> dict[str, Any]:
    """``catalog`` plus the namespaced factories of every layer-02-to-08 entry."""
    levels = {
        f"{STUDY_KEY}.{{study_corpus}}": f"{STUDY_KEY}/{{study_corpus}}/",
        f"{STUDY_KEY}.{{study_corpus}}.seed_{{study_seed}}": (
            f"{STUDY_KEY}/{{study_corpus}}/seed_{{study_seed}}/"
        ),
    }
    extra = {}
    for name, config in catalog.items():
        if name.startswith((AGGREGATE_PREFIX, f"{STUDY_KEY}.")):
            continue
        if not isinstance(config, dict):
            continue
        for prefix, folder in levels.items():
            moved = _moved(config, folder)
            if moved is not None:
                extra[f"{prefix}.{name}"] = moved
    return catalog | extra


class StudyConfigLoader(OmegaConfigLoader):
    """Kedro's ``OmegaConfigLoader`` that adds the study runs' parameters and datasets.

    See the module's docstring; nothing changes when ``study`` is absent.
    """

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if key == "parameters":
            return with_study_parameters(expand_sweeps(value))
        if key == "catalog":
            return with_study_datasets(value)
        return value
