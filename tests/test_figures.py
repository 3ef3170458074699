import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb

from emotion_aware_loss.evaluation.figures import (
    BASELINE_HATCH,
    distinct_colours,
    learning_curves_figure,
    per_class_recall_figure,
    variant_styles,
)

CLASSES = ["anger", "surprise", "happiness", "sadness", "neutral"]
NETWORKS = [f"variant_{i}" for i in range(12)]
BASELINES = ["linear_speech", "linear_text", "linear_fusion"]


def _is_grey(colour) -> bool:
    r, g, b = to_rgb(colour)
    return max(r, g, b) - min(r, g, b) < 0.02


def test_every_variant_gets_its_own_colour_and_no_network_is_grey():
    for n in (1, 8, 10, 18, 19, 40):
        colours = distinct_colours(n)
        assert len(colours) == n
        assert len(set(colours)) == n
        assert not any(_is_grey(c) for c in colours)


def test_recall_bars_distinguish_more_than_ten_variants_and_the_baselines():
    variants = NETWORKS + BASELINES
    rng = np.random.default_rng(0)
    recall = pd.DataFrame(
        [
            {
                "variant": v,
                "decision": rule,
                "class": c,
                "recall_mean": rng.uniform(),
                "recall_std": 0.05,
            }
            for rule in ("argmax", "min_expected_cost")
            for v in variants
            for c in CLASSES
        ]
    )
    fig = per_class_recall_figure(recall, CLASSES)
    ax = fig.axes[0]
    colour_of, hatch_of = {}, {}
    for container in ax.containers:
        if not hasattr(container, "patches") or not container.patches:
            continue
        bar = container.patches[0]
        colour_of[container.get_label()] = bar.get_facecolor()
        hatch_of[container.get_label()] = bar.get_hatch()
    assert set(colour_of) == set(variants)
    assert len({tuple(c) for c in colour_of.values()}) == len(variants)
    for name in BASELINES:
        assert hatch_of[name] == BASELINE_HATCH and _is_grey(colour_of[name])
    for name in NETWORKS:
        assert not hatch_of[name] and not _is_grey(colour_of[name])
    # the styles depend on the names, not on the order of the variants
    assert variant_styles(BASELINES + NETWORKS) == variant_styles(variants)


def test_learning_curves_give_fifteen_folds_fifteen_colours():
    history = {
        "loss": [1.0, 0.8, 0.7],
        "val_loss": [1.1, 0.9, 0.95],
        "val_uar": [0.4, 0.5, 0.45],
        "best_epoch": [2],
    }
    folds = {f"fold_{k}": history for k in range(15)}
    fig = learning_curves_figure({"cross_entropy": folds}, "val_uar")
    loss_ax = fig.axes[0]
    solid = [line for line in loss_ax.get_lines() if line.get_linestyle() == "-"]
    assert len({line.get_color() for line in solid}) == 15
