"""What a run's figures depend on besides its data and parameters: the software
versions, the CPU's vector extensions, the threads, oneDNN and the BLAS kernels
(the report's "Repeatability" section)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

SOFTWARE = (
    "emotion_aware_loss",
    "kedro",
    "kedro-datasets",
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "numpy",
    "pandas",
    "scikit-learn",
    "scipy",
    "librosa",
    "soundfile",
    "soxr",
    "numba",
    "llvmlite",
    "matplotlib",
)
"""The packages behind the results: ``soxr`` resamples the audio for librosa,
``numba`` and ``llvmlite`` compile librosa's feature code."""


def software_versions() -> dict[str, str]:
    """Python and the installed versions of the packages behind the results."""
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in SOFTWARE:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


# Vector extensions oneDNN chooses its kernels by, most capable first.
VECTOR_EXTENSIONS = (
    ("amx_tile", "AMX"),
    ("avx512f", "AVX-512"),
    ("avx2", "AVX2"),
    ("avx", "AVX"),
    ("sse4_2", "SSE4.2"),
)
VECTOR_DETAILS = ("avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16")


def _cpu_info() -> tuple[str, set[str]]:
    """The CPU's model name and feature flags (Linux; elsewhere what Python knows)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), set()
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in text.splitlines())
        if value
    )
    name = fields.get("model name") or platform.processor() or platform.machine()
    return name, set(fields.get("flags", fields.get("Features", "")).split())


def _threads(value: int, variable: str) -> str:
    if value:
        return str(value)
    if os.environ.get(variable):
        return f"{os.environ[variable]} ({variable})"
    return "TensorFlow's default (one per available core)"


def compute_environment() -> dict[str, str]:
    """The machine and settings floating-point results depend on.

    Training sums floats in an order set by the kernels oneDNN picks for the CPU's
    vector extensions and by TensorFlow's thread counts, so a run's figures are
    reproduced exactly where these (and the software versions) are the same, and
    differ in their last digits, which early stopping can amplify, elsewhere.

    Returns:
        CPU model and vector extensions, cores available to the process,
        TensorFlow's thread counts, whether oneDNN is on, and GPUs.
    """
    # Imported here: the run has loaded it already, and the rest of this module
    # does not need it.
    import tensorflow as tf  # noqa: PLC0415

    name, flags = _cpu_info()
    tier = next((label for flag, label in VECTOR_EXTENSIONS if flag in flags), None)
    details = [flag for flag in VECTOR_DETAILS if flag in flags]
    vector = (tier or "unknown") + (f" ({', '.join(details)})" if details else "")
    try:
        from tensorflow.python.util import _pywrap_util_port  # noqa: PLC0415

        onednn = "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except (ImportError, AttributeError):  # a TensorFlow without this private check
        onednn = f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '')}"
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        onednn += f" (ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']})"
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity else os.cpu_count()
    threading = tf.config.threading
    gpus = tf.config.list_physical_devices("GPU")
    environment = {
        "cpu": name,
        "vector extensions": vector,
        "cores available": str(cores),
        "TensorFlow intra-op threads": _threads(
            threading.get_intra_op_parallelism_threads(), "TF_NUM_INTRAOP_THREADS"
        ),
        "TensorFlow inter-op threads": _threads(
            threading.get_inter_op_parallelism_threads(), "TF_NUM_INTEROP_THREADS"
        ),
        "oneDNN": onednn,
        "GPU": ", ".join(gpu.name for gpu in gpus) or "none",
    }
    return environment | blas_libraries()


def blas_libraries() -> dict[str, str]:
    """The BLAS libraries NumPy and SciPy run on (the linear models' and the
    features' products), each with the kernels it chose for this CPU: OpenBLAS
    picks them when it loads, and other kernels round differently.

    Returns:
        ``BLAS (<package>)`` (the package that bundles it, else the library's
        prefix) -> ``<library> <version>, <kernels> kernels, <threading>``, for
        each one loaded, in the order of their names (threadpoolctl lists them
        in no fixed order, and the report's bytes must not change with it).
    """
    # Imported here: both are loaded by any run; importing them loads their BLAS.
    import scipy.linalg  # noqa: F401, PLC0415
    from threadpoolctl import threadpool_info  # noqa: PLC0415

    out = {}
    for library in threadpool_info():
        if library.get("user_api") != "blas":
            continue
        parts = [f"{library['internal_api']} {library.get('version') or ''}".strip()]
        if library.get("architecture"):
            parts.append(f"{library['architecture']} kernels")
        if library.get("threading_layer"):
            parts.append(library["threading_layer"])
        # NumPy and SciPy each bundle an OpenBLAS of the same prefix: the
        # folder it is loaded from tells them apart (numpy.libs, scipy.libs)
        folder = Path(library.get("filepath", "")).parent.name
        owner = folder.removesuffix(".libs") if folder.endswith(".libs") else None
        out[f"BLAS ({owner or library['prefix']})"] = ", ".join(parts)
    return dict(sorted(out.items()))
