import pytest
from cookiecutter.exceptions import FailedHookException

REJECTIONS = [
    # field, value, suggestion in the message
    ("dataset", "PCam v2", "dataset=pcam-v2"),
    ("dataset", "16camelyon", "dataset=camelyon16"),
    ("task", "classification!", "task=classification"),
    ("task", "Segmentation", "task=segmentation"),
    ("class_names", "tumour", "class_names=tumour,other"),
    ("class_names", "normal,tumour,normal", "class_names=normal,tumour"),
    ("class_names", "Normal Tissue,tumour", "class_names=normal_tissue,tumour"),
    ("input_size", "0", "input_size=16"),
    ("input_size", "100000", "input_size=2048"),
    ("input_size", "ninety-six", "input_size=96"),
    ("input_channels", "2", "input_channels=3"),
    ("normalisation_mean", "0.5,0.5", "normalisation_mean=0.5,0.5,0.5"),
    ("normalisation_std", "0.2,0,0.2", "normalisation_std=0.25,0.25,0.25"),
    ("email", "ml.scancer.org", "email=ml.scancer.org@example.org"),
    ("model_store_url", "localhost:8081", "model_store_url=http://127.0.0.1:8081"),
    ("repo_name", "pcam-model", "repo_name=ml-pcam-classification"),
]
SEGMENTATION_REJECTIONS = [
    ("class_names", "tissue,background", "class_names=background,tissue"),
    ("class_names", "tumour,stroma", "class_names=background,tumour,stroma"),
    ("input_size", "100", "input_size=96"),
]


@pytest.mark.parametrize(("field", "value", "suggestion"), REJECTIONS)
def test_hook_rejects_value_in_one_line(bake, tmp_path, capfd, field, value, suggestion):
    """The message names field, value, rule and fix on one line; no file is left behind."""
    with pytest.raises(FailedHookException):
        bake(**{field: value})
    message = capfd.readouterr().err.strip().splitlines()
    assert len(message) == 1
    assert message[0].startswith(f"cookiecutter: invalid {field} {value!r}: ")
    assert message[0].endswith(f"try {suggestion}")
    leftovers = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert leftovers == []


@pytest.mark.parametrize(("field", "value", "suggestion"), SEGMENTATION_REJECTIONS)
def test_hook_rejects_segmentation_value(bake, capfd, field, value, suggestion):
    with pytest.raises(FailedHookException):
        bake(task="segmentation", **{field: value})
    (message,) = capfd.readouterr().err.strip().splitlines()
    assert message.startswith(f"cookiecutter: invalid {field} {value!r}: a segmentation model's")
    assert message.endswith(f"try {suggestion}")


def answers_for(dataset="pcam", task="classification", **changes):
    """Return valid answers, with names derived from dataset and task as cookiecutter.json does."""
    segmentation = task == "segmentation"
    answers = {
        "dataset": dataset,
        "task": task,
        "model_name": f"{dataset}-{task}",
        "repo_name": f"ml-{dataset}-{task}",
        "package_name": f"{dataset.replace('-', '_')}_{task}",
        "class_names": "background,tissue" if segmentation else "normal,tumour",
        "input_size": "128" if segmentation else "96",
        "input_channels": "3",
        "normalisation_mean": "0.5,0.5,0.5",
        "normalisation_std": "0.25,0.25,0.25",
        "email": "ml@example.org",
        "licence": "MIT",
        "model_store_url": "http://127.0.0.1:8081",
    }
    answers.update(changes)
    return answers


def test_suggestions_pass_validation(pre_gen_hook):
    """Each suggested value is itself accepted, so the fix in the message works."""
    pre_gen_hook.validate(answers_for())
    for field, value, _ in REJECTIONS:
        with pytest.raises(pre_gen_hook.InvalidAnswer) as rejected:
            pre_gen_hook.validate(answers_for(**{field: value}))
        suggestion = str(rejected.value.suggestion)
        if field == "dataset":
            pre_gen_hook.validate(answers_for(suggestion))
        else:
            pre_gen_hook.validate(answers_for(**{field: suggestion}))
    for field, value, _ in SEGMENTATION_REJECTIONS:
        with pytest.raises(pre_gen_hook.InvalidAnswer) as rejected:
            pre_gen_hook.validate(answers_for(task="segmentation", **{field: value}))
        suggestion = str(rejected.value.suggestion)
        pre_gen_hook.validate(answers_for(task="segmentation", **{field: suggestion}))


def test_unknown_licence_rejected_before_writing(bake, tmp_path):
    """licence is a choice variable, so cookiecutter itself rejects other values."""
    with pytest.raises(ValueError, match="GPL provided for choice variable licence"):
        bake(licence="GPL")
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_hook_checks_licence_directly(pre_gen_hook):
    with pytest.raises(pre_gen_hook.InvalidAnswer, match="licence 'GPL'.*try licence=MIT"):
        pre_gen_hook.validate(answers_for(licence="GPL"))


@pytest.mark.parametrize(
    ("text", "slug"),
    [("PCam v2", "pcam-v2"), ("16camelyon", "camelyon16"), ("__", "data"), ("BRCA-1", "brca-1")],
)
def test_to_slug_examples(pre_gen_hook, text, slug):
    assert pre_gen_hook.to_slug(text) == slug


def test_derived_names_follow_dataset(bake):
    project = bake(dataset="camelyon16")
    assert project.name == "ml-camelyon16-classification"
    assert (project / "src" / "camelyon16_classification" / "scancer" / "handler.py").is_file()
