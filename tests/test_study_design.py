from pathlib import Path

import pytest
import yaml

from emotion_aware_loss.config import TrainingConfig
from emotion_aware_loss.pipelines.study import create_pipeline
from emotion_aware_loss.study.design import (
    StudyConfigLoader,
    StudyRun,
    merged,
    study_runs,
    with_study_datasets,
    with_study_parameters,
)

VARIANTS = {
    "cross_entropy": {"loss": "cross_entropy"},
    "emotion_aware": {"loss": "emotion_aware"},
    "soft_target": {"loss": "soft_target"},
}


def _params(**study) -> dict:
    design = {
        "seeds": [42, 1],
        "variants": ["cross_entropy", "emotion_aware"],
        "parameters": {"training": {"epochs": 3}},
        "corpora": {
            "clean": {"dataset": "corpus_a"},
            "speech": {
                "dataset": "corpus_b",
                "parameters": {
                    "model.modalities": ["speech"],
                    "classes": ["anger", "sadness", "neutral"],
                },
            },
        },
    } | study
    return {
        "seed": 7,
        "classes": ["anger", "surprise", "happiness", "sadness", "neutral"],
        "model": {"modalities": ["speech", "text"], "fusion": {"dense_units": [8]}},
        "training": {"epochs": 100, "patience": 10},
        "loss_variants": VARIANTS,
        "cross_validation": {"n_folds": 2},
        "study": design,
    }


def test_merge_is_deep_takes_dotted_keys_and_changes_neither_input():
    base = {"model": {"modalities": ["speech", "text"], "fusion": {"units": 8}}, "x": 1}
    override = {"model.modalities": ["speech"], "model": {"fusion": {"dropout": 0.1}}}
    out = merged(base, override)
    assert out == {
        "model": {"modalities": ["speech"], "fusion": {"units": 8, "dropout": 0.1}},
        "x": 1,
    }
    assert base["model"]["modalities"] == ["speech", "text"]
    assert "dropout" not in base["model"]["fusion"]


def test_every_run_gets_the_merged_parameters_under_its_namespace():
    params = with_study_parameters(_params())
    run = params["study"]["speech"]["seed_1"]
    assert run["seed"] == 1
    assert run["training"] == {"epochs": 3, "patience": 10}  # study, then the project
    assert run["model"]["modalities"] == ["speech"]  # the corpus's own
    assert run["model"]["fusion"] == {"dense_units": [8]}
    assert list(run["loss_variants"]) == ["cross_entropy", "emotion_aware"]
    assert params["study"]["clean"]["model"]["modalities"] == ["speech", "text"]
    assert "study" not in run
    assert params["seed"] == 7 and params["training"]["epochs"] == 100


def test_without_a_study_nothing_changes():
    params = {"seed": 1, "classes": ["a", "b"]}
    assert with_study_parameters(params) is params
    assert study_runs(params) == {}
    assert len(create_pipeline(params).nodes) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seeds": [1, 1]}, "seeds must be distinct"),
        ({"corpora": {"Bad-Name": {"dataset": "x"}}}, "Bad-Name"),
        ({"corpora": {"tests": {"dataset": "x"}}}, "tests"),
        ({"corpora": {"a": {"dataset": "x", "filepath": "y"}}}, "corpora.a.filepath"),
        (
            {"variants": ["cross_entropy", "focal"]},
            r"\['focal'\] are not loss_variants",
        ),
        ({"seeds": [1], "corpora": {"a": {"dataset": "x"}}}, "at least two"),
        ({"tests": {"reference": "soft_target"}}, "reference 'soft_target'"),
    ],
)
def test_a_bad_study_is_refused_naming_the_key(change, message):
    with pytest.raises(ValueError, match=message):
        study_runs(_params(**change))


def test_a_corpus_whose_parameters_make_no_layout_is_named():
    params = _params()
    params["study"]["corpora"]["speech"]["parameters"]["evaluation.baseline"] = "nope"
    with pytest.raises(ValueError, match="study corpus 'speech'.*nope"):
        study_runs(params)


def test_each_run_has_its_layout():
    runs = study_runs(_params())
    assert list(runs) == [
        StudyRun("clean", 42),
        StudyRun("clean", 1),
        StudyRun("speech", 42),
        StudyRun("speech", 1),
    ]
    assert runs[StudyRun("speech", 1)].baselines == ("linear_speech",)
    assert runs[StudyRun("clean", 1)].baselines == (
        "linear_speech",
        "linear_text",
        "linear_fusion",
    )
    assert StudyRun("speech", 1).namespace == "study.speech.seed_1"


def test_run_datasets_are_moved_under_the_study_folder_and_raw_data_is_not():
    catalog = {
        "corpus": {"type": "X", "path": "data/01_raw/demo"},
        "utterances": {"type": "P", "filepath": "/p/data/02_intermediate/u.parquet"},
        "{variant}.fold_{k}.model": {
            "type": "K",
            "filepath": "s3://b/data/06_models/{variant}/fold_{k}/model.keras",
            "versioned": True,
        },
        "study_summary": {"type": "C", "filepath": "data/08_reporting/study.csv"},
    }
    out = with_study_datasets(catalog)
    assert out["study.{study_corpus}.utterances"]["filepath"] == (
        "/p/data/study/{study_corpus}/02_intermediate/u.parquet"
    )
    model = out["study.{study_corpus}.seed_{study_seed}.{variant}.fold_{k}.model"]
    assert model == {
        "type": "K",
        "filepath": "s3://b/data/study/{study_corpus}/seed_{study_seed}/06_models/"
        "{variant}/fold_{k}/model.keras",
        "versioned": True,
    }
    assert not any(
        k.startswith("study.") and "corpus" in k[6:] for k in out if "01" in k
    )
    assert "study.{study_corpus}.corpus" not in out
    assert not any(k.startswith("study.") and k.endswith("study_summary") for k in out)
    assert catalog["utterances"]["filepath"] == "/p/data/02_intermediate/u.parquet"


def test_the_config_loader_adds_parameters_kedro_can_validate(tmp_path: Path):
    base = tmp_path / "conf" / "base"
    base.mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    (base / "parameters.yml").write_text(yaml.safe_dump(_params()))
    (base / "catalog.yml").write_text(
        yaml.safe_dump({"x": {"type": "T", "filepath": "data/03_primary/x.csv"}})
    )
    loader = StudyConfigLoader(
        conf_source=str(tmp_path / "conf"),
        base_env="base",
        default_run_env="local",
        runtime_params={"training": {"patience": 4}},
    )
    run = loader["parameters"]["study"]["clean"]["seed_42"]
    assert TrainingConfig.model_validate(run["training"]).patience == 4  # --params
    assert loader["catalog"]["study.{study_corpus}.x"]["filepath"] == (
        "data/study/{study_corpus}/03_primary/x.csv"
    )


def test_the_study_pipeline_namespaces_every_run_and_reads_the_corpus_once():
    pipeline = create_pipeline(with_study_parameters(_params()))
    names = {node.name for node in pipeline.nodes}
    # preprocessing once per corpus, in the corpus's namespace
    assert sum(name.endswith("extract_acoustic_features_node") for name in names) == 2
    assert "study.speech.extract_acoustic_features_node" in names
    # every seed of a corpus in one stack, in the corpus's namespace
    stack = next(n for n in pipeline.nodes if n.name == "study.clean.train_models_node")
    assert "study.clean.seed_1.cross_entropy.fold_1.model" in stack.outputs
    assert "study.clean.seed_42.cross_entropy.fold_1.model" in stack.outputs
    assert "study.speech.seed_42.fold_0.fit_linear_baselines_node" in names
    assert not any("final_model" in name for name in names)
    inputs = pipeline.inputs()
    assert {"corpus_a", "corpus_b", "emotion_similarity"} <= inputs
    assert "params:study.speech.seed_42.training" in inputs
    assert "params:study.speech.preprocessing.acoustic" in inputs
    # a run reads the corpus's features, not its own copy
    train = next(
        n for n in pipeline.nodes if n.name == "study.speech.train_models_node"
    )
    assert "study.speech.acoustic_features" in train.inputs
    assert "params:study.speech.seed_1.training" in train.inputs
    assert "study.speech.seed_1.fold_0.split" in train.inputs
    collect = next(n for n in pipeline.nodes if n.name == "collect_study_metrics_node")
    assert set(collect.inputs) == {
        f"study.{c}.seed_{s}.cv_fold_metrics"
        for c in ("clean", "speech")
        for s in (42, 1)
    }
    assert {"study_summary", "study_tests", "study_report"} <= pipeline.all_outputs()


def test_a_precomputed_corpus_is_read_by_the_from_features_steps():
    params = _params()
    params["study"]["corpora"]["speech"]["precomputed"] = True
    pipeline = create_pipeline(with_study_parameters(params))
    names = {node.name for node in pipeline.nodes}
    assert "study.speech.prepare_precomputed_node" in names
    assert "study.speech.extract_acoustic_features_node" not in names
    assert "study.clean.extract_acoustic_features_node" in names
    prepare = next(n for n in pipeline.nodes if n.name.endswith("precomputed_node"))
    assert "corpus_b" in prepare.inputs
