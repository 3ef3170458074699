"""Optional dependencies (the project's extras), imported on demand with an error
that names the ``pip install`` command."""

from __future__ import annotations

import importlib


class MissingExtraError(ImportError):
    """An optional dependency of the configured features is not installed."""


def require_extra(module: str, extra: str, purpose: str):
    """Import ``module`` or say which extra of the project installs it.

    Raises:
        MissingExtraError: Naming the ``pip install`` command.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs the {module!r} package, which is not installed; "
            f'install the project\'s {extra!r} extra: pip install -e ".[{extra}]"'
        ) from exc
