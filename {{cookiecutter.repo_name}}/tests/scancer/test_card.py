"""make card writes the card section and figures, identically when run twice."""

import re
import shutil

import pytest

from {{ cookiecutter.package_name }}.scancer import card, checks
from {{ cookiecutter.package_name }}.scancer.archive import pack
from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH, load_document

from task_fixtures import MAIN_SCORES


@pytest.fixture
def context(tmp_path, traced_file, data_dir, metadata, examples):
    archive = pack(traced_file, metadata, tmp_path / "store", METADATA_PATH)
    return checks.CheckContext(load_document(), metadata, archive, data_dir, "test",
                               examples=examples)  # fmt: skip


@pytest.fixture
def readme(tmp_path):
    path = tmp_path / "project" / "README.md"
    path.parent.mkdir()
    path.write_text(f"# Model\n\n{card.START}\nold\n{card.END}\n\n## Tests\n")
    return path


def card_files(root):
    return {path.relative_to(root): path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_card_section_and_figures(context, readme, metadata):
    card.write_card(readme, card.card_text(context, readme.parent))
    text = readme.read_text()

    assert text.startswith("# Model\n\n<!-- card:start -->\n**Not for diagnostic use")
    assert text.endswith("<!-- card:end -->\n\n## Tests\n")
    assert "old" not in text
    assert f"| {MAIN_SCORES[0]} |" in text
    assert "| none |" in text
    assert f"/predictions/{metadata.model_name}" in text
    figures = re.findall(r"\]\((docs/card/[^)]+\.png)\)", text)
    assert figures
    for figure in figures:
        assert (readme.parent / figure).read_bytes().startswith(b"\x89PNG"), figure


def test_card_is_reproducible(context, readme):
    card.write_card(readme, card.card_text(context, readme.parent))
    first = card_files(readme.parent)
    shutil.rmtree(readme.parent / "docs")

    card.write_card(readme, card.card_text(context, readme.parent))

    assert card_files(readme.parent) == first


def test_card_shows_published_metrics(context, readme):
    context.document["published"] = {"version": "0.9.0", "content_sha256": "0" * 64,
                                     "metrics": {MAIN_SCORES[0]: 0.5}}  # fmt: skip

    card.write_card(readme, card.card_text(context, readme.parent))

    assert "| Metric | This model | Published 0.9.0 |" in readme.read_text()
    assert "| 0.5000 |" in readme.read_text()


def test_readme_without_markers_rejected(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Model\n")

    with pytest.raises(SystemExit, match="no <!-- card:start -->"):
        card.write_card(readme, "text")
