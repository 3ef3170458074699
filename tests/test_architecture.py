"""The package's folders follow the data, and imports only run down that order."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import emotion_aware_loss

PACKAGE = Path(emotion_aware_loss.__file__).parent

# From the bottom up, in the README's order ("Code map"): each room may import
# itself and the rooms before it only.
ORDER = [
    "registry",
    "progress",
    "extras",
    "losses",
    "corpora",
    "config",
    "features",
    "models",
    "folds",
    "evaluation",
    "training",
    "study",
    "inference",
    "datasets",
    "pipelines",
    "run",
    "settings",
    "pipeline_registry",
    "__init__",
    "__main__",
]
FLOOR = {room: level for level, room in enumerate(ORDER)}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _room(parts: tuple[str, ...]) -> str:
    """The top-level folder or module of ``emotion_aware_loss.<parts>``."""
    return parts[0] if parts else "__init__"


def _imports(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    """(line, module parts below ``emotion_aware_loss``) of every project import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = package if path.name == "__init__.py" else package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level:
                base = list(package[: len(package) - node.level + 1]) + base
            if base[:1] != ["emotion_aware_loss"]:
                continue
            if len(base) == 1:  # from emotion_aware_loss import x
                found += [(node.lineno, (a.name,)) for a in node.names]
            else:
                found.append((node.lineno, tuple(base[1:])))
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, tuple(a.name.split(".")[1:]))
                for a in node.names
                if a.name.split(".")[0] == "emotion_aware_loss"
            ]
    return found


def test_every_room_is_on_a_floor():
    rooms = {_room(p.relative_to(PACKAGE).with_suffix("").parts) for p in _modules()}
    assert rooms == set(FLOOR), "add the new folder or module to ORDER (and README)"


@pytest.mark.parametrize(
    "path", _modules(), ids=lambda p: p.relative_to(PACKAGE).as_posix()
)
def test_imports_only_run_down(path):
    here = _room(path.relative_to(PACKAGE).with_suffix("").parts)
    upward = [
        f"line {line}: emotion_aware_loss.{'.'.join(target)}"
        for line, target in _imports(path)
        if target and FLOOR.get(_room(target), -1) > FLOOR[here]
    ]
    assert not upward, f"{here} imports a room above it: {upward}"


def test_no_node_file_imports_another_pipeline():
    for path in sorted((PACKAGE / "pipelines").glob("*/nodes.py")):
        own = path.parent.name
        others = [
            (line, ".".join(target))
            for line, target in _imports(path)
            if target[:1] == ("pipelines",) and target[1:2] != (own,)
        ]
        assert not others, f"pipelines/{own}/nodes.py imports {others}"


LONG = 450  # lines; a module this long says at its top why it is one module


def test_a_long_module_says_why_it_is_one():
    silent = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > LONG and "Longer than most" not in docstring:
            silent.append(path.relative_to(PACKAGE).as_posix())
    assert not silent, f"over {LONG} lines: split them, or say at the top why not"
