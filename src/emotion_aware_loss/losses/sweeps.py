"""Sweeps: a loss variant that lists values of its hyper-parameter becomes one
variant per value.

    loss_variants:
      soft_target:
        loss: soft_target
        beta: [2.0, 5.0, 10.0]

becomes the variants ``soft_target_beta_2``, ``soft_target_beta_5`` and
``soft_target_beta_10`` (a decimal point is written ``p``: ``alpha_0p5``), each
trained, scored and drawn on the frontier like any other. ``baselines.losses`` and
``evaluation.ensembles`` entries naming a swept variant name all its values.
The expansion happens when the parameters are loaded
(:class:`~emotion_aware_loss.study.design.StudyConfigLoader`), so the pipelines,
the nodes and the report see ordinary variants.
"""

from __future__ import annotations

import copy
from typing import Any

from emotion_aware_loss.losses.family import LOSS_REGISTRY, own_hyper_parameter

# Keys that refer to one variant each: a swept variant has no single name there.
SINGLE_REFERENCES = (("evaluation", "baseline"), ("final_model", "variant"))
# Lists of variant names: a swept variant stands for all its values there.
LIST_REFERENCES = (("baselines", "losses"), ("evaluation", "ensembles"))


def _value_name(value: float) -> str:
    return f"{value:g}".replace(".", "p").replace("-", "m").replace("+", "")


def _expanded(name: str, entry: dict) -> dict[str, dict] | None:
    """The variants of one entry, or None when it lists no values."""
    swept = [k for k, v in entry.items() if isinstance(v, list | tuple)]
    if not swept:
        return None
    loss = entry.get("loss")
    own = own_hyper_parameter(loss) if loss in LOSS_REGISTRY else None
    for key in swept:
        if key != own:
            allowed = f"only {own!r}" if own else "none"
            raise ValueError(
                f"loss_variants.{name}.{key}: lists values, but a sweep varies the "
                f"loss's own hyper-parameter ({loss!r} has {allowed})"
            )
    values = entry[own]
    if not values:
        raise ValueError(
            f"loss_variants.{name}.{own}: a sweep needs at least one value"
        )
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise ValueError(
            f"loss_variants.{name}.{own}: sweep values must be numbers, got {values}"
        )
    if len(set(values)) != len(values):
        raise ValueError(
            f"loss_variants.{name}.{own}: a value is listed twice in {values}"
        )
    declared = LOSS_REGISTRY[loss].hyper[own]
    for value in values:
        if (problem := declared.check(float(value))) is not None:
            raise ValueError(f"loss_variants.{name}.{own}: {problem}")
    return {
        f"{name}_{own}_{_value_name(float(v))}": entry | {own: float(v)} for v in values
    }


def expand_sweeps(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with every swept loss variant replaced by its variants.

    Raises:
        ValueError: Naming the key at fault: a list on a key that is not the loss's
            own hyper-parameter, an empty or non-numeric or repeated list, a value
            outside the hyper-parameter's range, a
            generated name already in use, or a swept variant named where one
            variant is expected (``evaluation.baseline``, ``final_model.variant``).
    """
    variants = params.get("loss_variants")
    if not isinstance(variants, dict):
        return params
    out_variants: dict[str, Any] = {}
    swept: dict[str, list[str]] = {}
    for name, entry in variants.items():
        expanded = _expanded(name, entry) if isinstance(entry, dict) else None
        if expanded is None:
            out_variants[name] = entry
            continue
        for new in expanded:
            if new in variants or new in out_variants:
                raise ValueError(
                    f"loss_variants.{name}: the sweep's variant {new!r} is already a "
                    "variant; rename one of them"
                )
        out_variants |= expanded
        swept[name] = list(expanded)
    if not swept:
        return params
    out = copy.deepcopy(dict(params))
    out["loss_variants"] = out_variants
    for block, key in SINGLE_REFERENCES:
        named = (out.get(block) or {}).get(key)
        if named in swept:
            raise ValueError(
                f"{block}.{key} names {named!r}, which is swept into {swept[named]}; "
                "name one of them"
            )
    for block, key in LIST_REFERENCES:
        names = (out.get(block) or {}).get(key)
        if isinstance(names, list) and names:
            out[block][key] = [new for n in names for new in swept.get(n, [n])]
    return out
