"""Validate the answers before cookiecutter writes any file.

Each rejection is one line that names the field, the value, the rule and a
corrected value. The hook exits with status 1 on the first invalid answer, and
cookiecutter then removes the partly created project folder.
"""

import difflib
import json
import re
import sys
from urllib.parse import urlsplit

KNOWN_TASKS = ("classification", "segmentation")
BACKGROUND = "background"
KNOWN_LICENCES = ("Apache-2.0", "MIT", "BSD-3-Clause", "Proprietary")
INPUT_SIZE_RANGE = (16, 2048)
SEGMENTATION_SIZE_STEP = 8  # the default U-Net halves its input three times
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
CLASS_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
PACKAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidAnswer(ValueError):
    """An answer that breaks a rule, with a corrected value to suggest."""

    def __init__(self, field, value, rule, suggestion):
        self.field = field
        self.value = value
        self.rule = rule
        self.suggestion = suggestion
        super().__init__(f"invalid {field} {value!r}: {rule}; try {field}={suggestion}")


def to_slug(text):
    """Return text as a slug: lowercase words joined by '-', starting with a letter."""
    slug = "-".join(re.findall(r"[a-z0-9]+", text.lower()))
    leading_digits = re.match(r"[0-9-]*", slug).group()
    slug = slug[len(leading_digits) :] + leading_digits.replace("-", "")
    return slug if slug[:1].isalpha() else "data" + slug


def check_slug(field, value):
    """Check a data set slug, which becomes part of names and URLs."""
    if not SLUG_PATTERN.match(value):
        raise InvalidAnswer(
            field,
            value,
            "use lowercase letters and digits, words joined by '-', starting with a letter",
            to_slug(value),
        )


def check_task(value):
    """Check that the task is one the template can generate."""
    if value not in KNOWN_TASKS:
        close = difflib.get_close_matches(value.strip().lower(), KNOWN_TASKS, n=1, cutoff=0.5)
        suggestion = close[0] if close else KNOWN_TASKS[0]
        raise InvalidAnswer("task", value, f"must be one of {', '.join(KNOWN_TASKS)}", suggestion)


def check_derived_name(field, value, expected):
    """Check a name that the Scancer conventions derive from dataset and task."""
    if value != expected:
        raise InvalidAnswer(
            field, value, f"must follow the naming convention ({expected})", expected
        )


def check_package_name(value):
    """Check that the package name is an importable Python identifier."""
    if not PACKAGE_PATTERN.match(value):
        raise InvalidAnswer(
            "package_name",
            value,
            "must be lowercase letters, digits and '_', starting with a letter",
            to_slug(value).replace("-", "_"),
        )


def parse_class_names(value):
    """Return the class names of a comma-separated answer, after checking them."""
    names = [name.strip() for name in value.split(",")]
    cleaned = [to_slug(name).replace("-", "_") for name in names if name]
    unique = list(dict.fromkeys(cleaned))
    suggestion = ",".join(unique + ["other"] if len(unique) < 2 else unique)
    for name in names:
        if not CLASS_NAME_PATTERN.match(name):
            raise InvalidAnswer(
                "class_names",
                value,
                f"class name {name!r} must be lowercase letters, digits and '_'",
                suggestion,
            )
    if len(names) < 2:
        raise InvalidAnswer("class_names", value, "a model needs at least two classes", suggestion)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidAnswer(
            "class_names",
            value,
            f"duplicate class name {duplicates[0]!r}",
            suggestion,
        )
    return names


def check_background_first(value, names):
    """Check that label 0 of a segmentation model is the background."""
    if names[0] != BACKGROUND:
        others = [name for name in names if name != BACKGROUND]
        raise InvalidAnswer(
            "class_names",
            value,
            f"a segmentation model's first class (label 0) must be {BACKGROUND!r}",
            ",".join([BACKGROUND, *others]),
        )


def parse_int(field, value, low, high, default):
    """Return value as an int within [low, high]."""
    try:
        number = int(value)
    except ValueError:
        raise InvalidAnswer(field, value, "must be a whole number", default) from None
    if not low <= number <= high:
        nearest = min(max(number, low), high)
        raise InvalidAnswer(field, value, f"must be from {low} to {high}", nearest)
    return number


def check_segmentation_size(value, size):
    """Check that the U-Net, which halves the input three times, can take the size."""
    if size % SEGMENTATION_SIZE_STEP:
        low, high = INPUT_SIZE_RANGE
        nearest = min(max(round(size / SEGMENTATION_SIZE_STEP) * SEGMENTATION_SIZE_STEP, low), high)
        raise InvalidAnswer(
            "input_size",
            value,
            f"a segmentation model's input size must be a multiple of {SEGMENTATION_SIZE_STEP}",
            nearest,
        )


def parse_channels(value):
    """Return the channel count, which must be 1 (greyscale) or 3 (RGB)."""
    channels = parse_int("input_channels", value, 1, 3, 3)
    if channels == 2:
        raise InvalidAnswer("input_channels", value, "must be 1 or 3", 3)
    return channels


def parse_statistics(field, value, channels, is_valid, rule, default):
    """Return one float per channel, each accepted by is_valid."""
    suggestion = ",".join([str(default)] * channels)
    try:
        numbers = [float(part) for part in value.split(",")]
    except ValueError:
        raise InvalidAnswer(field, value, "must be comma-separated numbers", suggestion) from None
    if len(numbers) != channels:
        raise InvalidAnswer(
            field, value, f"needs one number per input channel ({channels})", suggestion
        )
    for number in numbers:
        if not is_valid(number):
            raise InvalidAnswer(field, value, rule, suggestion)
    return numbers


def check_email(value):
    """Check that the e-mail address has a local part, '@' and a domain."""
    if not EMAIL_PATTERN.match(value):
        local = re.sub(r"[^a-z0-9._-]", "", value.lower()) or "name"
        raise InvalidAnswer(
            "email", value, "must look like name@example.org", f"{local}@example.org"
        )


def check_licence(value):
    """Check that the licence is one whose text the template ships."""
    if value not in KNOWN_LICENCES:
        raise InvalidAnswer("licence", value, f"must be one of {', '.join(KNOWN_LICENCES)}", "MIT")


def check_store_url(value):
    """Check that the model store URL is an http(s) URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidAnswer(
            "model_store_url",
            value,
            "must be an http:// or https:// URL with a host",
            "http://127.0.0.1:8081",
        )


def validate(answers):
    """Check every answer, raising InvalidAnswer on the first invalid one."""
    check_slug("dataset", answers["dataset"])
    check_task(answers["task"])
    model_name = f"{answers['dataset']}-{answers['task']}"
    check_derived_name("model_name", answers["model_name"], model_name)
    check_derived_name("repo_name", answers["repo_name"], f"ml-{model_name}")
    check_package_name(answers["package_name"])
    names = parse_class_names(answers["class_names"])
    if answers["task"] == "segmentation":
        check_background_first(answers["class_names"], names)
    size = parse_int("input_size", answers["input_size"], *INPUT_SIZE_RANGE, 96)
    if answers["task"] == "segmentation":
        check_segmentation_size(answers["input_size"], size)
    channels = parse_channels(answers["input_channels"])
    parse_statistics(
        "normalisation_mean",
        answers["normalisation_mean"],
        channels,
        lambda mean: 0.0 <= mean <= 1.0,
        "each mean must be from 0 to 1 (pixel values scaled to [0, 1])",
        0.5,
    )
    parse_statistics(
        "normalisation_std",
        answers["normalisation_std"],
        channels,
        lambda std: 0.0 < std <= 1.0,
        "each standard deviation must be above 0 and at most 1",
        0.25,
    )
    check_email(answers["email"])
    check_licence(answers["licence"])
    check_store_url(answers["model_store_url"])


def main(answers):
    try:
        validate(answers)
    except InvalidAnswer as error:
        print(f"cookiecutter: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(r"""{{ cookiecutter | jsonify }}""")))
