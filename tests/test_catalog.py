"""Every dataset a registered pipeline uses has a catalog entry or factory."""

import dataclasses
from pathlib import Path

from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from emotion_aware_loss.config.layout import load_layout
from emotion_aware_loss.pipelines.training import create_pipeline as training_pipeline

ROOT = Path(__file__).resolve().parents[1]


def test_every_dataset_resolves_to_a_persistent_catalog_entry(monkeypatch):
    monkeypatch.chdir(ROOT)
    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT, env="base") as session:
        catalog = session.load_context().catalog
    missing = {}
    for name, pipeline in pipelines.items():
        for dataset in pipeline.datasets():
            if dataset.startswith("params:") or dataset == "parameters":
                continue
            kind = catalog.get_type(dataset)
            if kind is None or kind.endswith("MemoryDataset"):
                missing.setdefault(name, []).append(dataset)
    assert not missing, f"datasets without a catalog entry: {missing}"


def test_folds_and_variants_come_from_conf():
    training = pipelines["training"]
    # one stack per round: the seven first-round variants, then the learned one
    first, second = sorted(training.nodes, key=lambda n: len(n.outputs), reverse=True)
    assert first.name == "train_models_node"
    assert second.name == "train_models_second_round_node"
    assert len(first.outputs) == 2 * 7 * 5 and len(second.outputs) == 2 * 5
    assert "emotion_aware.fold_4.model" in first.outputs
    assert "emotion_aware_learned.fold_2.history" in second.outputs
    # training.stacked: false, one node per variant and fold
    per_node = training_pipeline(dataclasses.replace(load_layout(), stacked=False))
    names = {node.name for node in per_node.nodes}
    assert "emotion_aware.fold_4.train_model_node" in names
    assert "cross_entropy.fold_0.train_model_node" in names
    assert "emotion_aware_learned.fold_2.train_model_node" in names
    assert len(names) == 40  # 8 variants x 5 folds
    assert per_node.all_outputs() == training.all_outputs()


def test_every_node_runs_a_function_of_its_pipelines_nodes_module():
    """Library code stays out of the pipelines, and each node's function is a thin
    one in ``pipelines/<stage>/nodes.py``: the run's display counts a node's time
    under the stage its function's module names."""
    from emotion_aware_loss.pipeline_registry import register_pipelines  # noqa: PLC0415
    from emotion_aware_loss.run.display import stage_of  # noqa: PLC0415

    outside = {
        node.name
        for pipeline in register_pipelines().values()
        for node in pipeline.nodes
        if stage_of(node) == "run"
    }
    assert not outside, f"node functions outside pipelines/<stage>/nodes.py: {outside}"
