import importlib.util
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]


@pytest.fixture
def bake(tmp_path):
    """Bake the template with extra answers into a fresh folder; return the project path."""

    def bake_with(**answers) -> Path:
        output = tmp_path / f"bake-{len(list(tmp_path.iterdir()))}"
        output.mkdir()
        return Path(
            cookiecutter(
                str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output)
            )
        )

    return bake_with


@pytest.fixture(scope="session")
def pre_gen_hook():
    """The pre-generation hook, imported as a module."""
    spec = importlib.util.spec_from_file_location(
        "pre_gen_project", TEMPLATE / "hooks" / "pre_gen_project.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
