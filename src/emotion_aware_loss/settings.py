"""Project settings (Kedro defaults unless stated)."""

from kedro.config import OmegaConfigLoader

from emotion_aware_loss.hooks import LayoutHooks, TrainingThreadsHooks

HOOKS = (LayoutHooks(), TrainingThreadsHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
