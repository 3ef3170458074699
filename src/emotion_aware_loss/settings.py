"""Project settings (Kedro defaults unless stated)."""

import warnings

from emotion_aware_loss.run.hooks import (
    LayoutHooks,
    ProgressHooks,
    TrainingThreadsHooks,
)
from emotion_aware_loss.run.tracking import TrackingHooks
from emotion_aware_loss.study.design import StudyConfigLoader

HOOKS = (LayoutHooks(), TrackingHooks(), TrainingThreadsHooks(), ProgressHooks())

# Kedro 1.7's config loader calls an OmegaConf function that newer OmegaConf
# releases deprecate, three warnings per run addressed to Kedro's developers, not
# to this project's users.
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
)

# kedro-mlflow registers itself when installed; TrackingHooks starts it only when
# `tracking.enabled` is true, so the plugin's automatic registration is turned off.
# (Its distribution name is spelt both ways, depending on how it was built.)
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-mlflow", "kedro_mlflow")

# OmegaConfigLoader that also gives each study run its parameters and datasets
# (emotion_aware_loss.study.design); without a `study` block it changes nothing.
CONFIG_LOADER_CLASS = StudyConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
