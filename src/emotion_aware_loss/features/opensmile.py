"""openSMILE's standard parameter sets (the ``egemaps`` extra): eGeMAPSv02 (Eyben
et al., 2016) and ComParE 2016, as functionals or low-level descriptors."""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import sys
import warnings
from pathlib import Path

import numpy as np

from emotion_aware_loss.config import AcousticConfig
from emotion_aware_loss.extras import require_extra

# feature -> (openSMILE feature set, feature level)
OPENSMILE_FEATURES = {
    "egemaps": ("eGeMAPSv02", "Functionals"),
    "egemaps_lld": ("eGeMAPSv02", "LowLevelDescriptors"),
    "compare": ("ComParE_2016", "Functionals"),
}
# openSMILE fills every functional with NaN below about 60 ms of audio; shorter
# utterances are padded with silence to this length, as librosa's are to n_fft.
_OPENSMILE_MIN_SECONDS = 0.1


def _isolate_opensmile_library() -> None:
    """Load openSMILE's C library so that it binds to its own symbols.

    Loaded after TensorFlow (which exports many symbols process-wide), the
    library's calls resolve to TensorFlow's like-named symbols and the heap is
    corrupted (``malloc(): invalid size``) on the first extraction. Loading it
    first with ``RTLD_DEEPBIND | RTLD_LOCAL`` keeps both apart; the ``opensmile``
    package's own later load then reuses this handle. Linux only (elsewhere the
    flag does not exist and the package loads it as usual).
    """
    if "opensmile" in sys.modules or not hasattr(os, "RTLD_DEEPBIND"):
        return
    spec = importlib.util.find_spec("opensmile")
    if spec is None or spec.origin is None:
        return  # not installed: require_extra says which extra to install
    for library in Path(spec.origin).parent.glob("core/bin/*/libSMILEapi.so"):
        try:
            ctypes.CDLL(str(library), mode=os.RTLD_LOCAL | os.RTLD_DEEPBIND)
        except OSError:
            continue  # another platform's build; the package picks its own
        return


@functools.lru_cache(maxsize=4)
def _smile(feature: str):
    """One openSMILE extractor per feature kind and process (building one costs)."""
    _isolate_opensmile_library()
    opensmile = require_extra(
        "opensmile", "egemaps", f"preprocessing.acoustic.feature: {feature}"
    )
    feature_set, level = OPENSMILE_FEATURES[feature]
    return opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, feature_set),
        feature_level=getattr(opensmile.FeatureLevel, level),
    )


def opensmile_names(feature: str) -> list[str]:
    """Names of the values :func:`opensmile_features` returns for ``feature``."""
    return list(_smile(feature).feature_names)


def opensmile_version() -> str:
    """The installed openSMILE Python package's version (``egemaps`` extra)."""
    _isolate_opensmile_library()
    return require_extra("opensmile", "egemaps", "openSMILE features").__version__


def opensmile_features(waveform: np.ndarray, config: AcousticConfig) -> np.ndarray:
    """openSMILE functionals (one row) or low-level descriptors (one row per 10 ms).

    Args:
        waveform: Mono float waveform at ``config.sample_rate``.
        config: Acoustic parameters; ``feature`` is ``egemaps``, ``egemaps_lld``
            or ``compare``.

    Returns:
        ``(1, 88)`` eGeMAPSv02 or ``(1, 6373)`` ComParE 2016 functionals, or
        ``(frames, 25)`` eGeMAPSv02 low-level descriptors, float32.
    """
    y = np.asarray(waveform, dtype=np.float32)
    shortest = int(np.ceil(_OPENSMILE_MIN_SECONDS * config.sample_rate))
    if len(y) < shortest:
        y = np.pad(y, (0, shortest - len(y)))
    with warnings.catch_warnings():
        # openSMILE warns (and fills NaN) for too-short segments: padded above.
        warnings.simplefilter("ignore", UserWarning)
        table = _smile(config.feature).process_signal(y, config.sample_rate)
    return table.to_numpy(dtype=np.float32)


def opensmile_dimension(config: AcousticConfig) -> int:
    """Values per row of ``config.feature``'s openSMILE set."""
    return len(opensmile_names(config.feature))


def opensmile_record(config: AcousticConfig) -> dict[str, str]:
    """The provenance of an openSMILE feature: the package's version, the
    feature set and its level."""
    feature_set, level = OPENSMILE_FEATURES[config.feature]
    return {
        "feature": config.feature,
        "library": "opensmile",
        "version": opensmile_version(),
        "feature_set": feature_set,
        "level": level,
    }
