"""How many fold pipelines and which loss variants exist.

Kedro builds pipelines before it reads parameters (``find_pipelines`` passes no
arguments), yet the number of folds and the list of loss variants decide the
pipelines' structure. This module is the one place that reads both, from the same
``conf/`` files the run uses (``conf/base`` overridden by ``conf/local``, or by the
environment named in ``KEDRO_ENV``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.utils import find_kedro_project

from emotion_aware_loss.config import CrossValidationConfig, validate_variants


@dataclass(frozen=True)
class Layout:
    n_folds: int
    variants: tuple[str, ...]

    @property
    def folds(self) -> tuple[str, ...]:
        return tuple(f"fold_{k}" for k in range(self.n_folds))


def _project_root() -> Path:
    root = find_kedro_project(Path.cwd())
    if root is None:  # e.g. an editable install used from another folder
        root = find_kedro_project(Path(__file__).resolve().parent)
    if root is None:
        raise RuntimeError(
            "cannot find the Kedro project (a pyproject.toml with [tool.kedro]) "
            f"from {Path.cwd()}"
        )
    return root


@cache
def load_layout(project_root: Path | None = None, env: str | None = None) -> Layout:
    """Read ``cross_validation.n_folds`` and the ``loss_variants`` names from ``conf/``."""
    root = project_root or _project_root()
    loader = OmegaConfigLoader(
        conf_source=str(root / "conf"),
        base_env="base",
        default_run_env=env or os.environ.get("KEDRO_ENV", "local"),
    )
    params = loader["parameters"]
    cv = CrossValidationConfig.model_validate(params.get("cross_validation", {}))
    variants = validate_variants(params.get("loss_variants", {}))
    return Layout(cv.n_folds, tuple(variants))
