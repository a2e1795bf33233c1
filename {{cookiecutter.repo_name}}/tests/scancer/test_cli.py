import pytest

from {{ cookiecutter.package_name }}.scancer import cli, local_store

from conftest import free_ports, pack_version, traced_model

pytestmark = pytest.mark.serve


@pytest.fixture
def project(tmp_path, monkeypatch, examples):
    """Point the command line at folders under tmp_path instead of the repository's build/."""
    monkeypatch.setattr(cli, "SERVE_DIR", tmp_path / "serve")
    monkeypatch.setattr(cli, "MODEL_STORE", tmp_path / "model-store")
    monkeypatch.setattr(cli, "EXAMPLES_DIR", examples[0].parent)
    (tmp_path / "model-store").mkdir()
    yield tmp_path
    local_store.stop(tmp_path / "serve")


def ports_argument():
    return ",".join(str(port) for port in free_ports())


def test_serve_publishes_then_stop(project, metadata, capsys):
    model_file = traced_model(0, project / "model.pt")
    pack_version(model_file, metadata.version, project, project / "model-store")

    cli.main(["serve", "--ports", ports_argument()])
    served = capsys.readouterr().out.splitlines()
    cli.main(["serve"])
    again = capsys.readouterr().out
    cli.main(["stop"])
    stopped = capsys.readouterr().out

    assert f"[4/4] Making {metadata.version} the default version" in served
    assert served[-1].startswith(f"Default version of {metadata.model_name}: {metadata.version}")
    assert "is already registered" in again
    assert "Stopped the local store" in stopped
    assert local_store.running(project / "serve") is None


def test_serve_reports_model_load_failure(project, metadata, capsys):
    unloadable = project / "unloadable.pt"
    unloadable.write_bytes(b"not a TorchScript file")
    pack_version(unloadable, metadata.version, project, project / "model-store")

    with pytest.raises(SystemExit):
        cli.main(["serve", "--ports", ports_argument()])
    error = capsys.readouterr().err

    assert error.startswith("serve failed: POST http://127.0.0.1:")
    assert "Failed to start workers" in error
    assert "--- last lines of" in error
    assert "The local store was stopped." in error
    assert local_store.running(project / "serve") is None


def test_serve_without_archive(project, capsys):
    with pytest.raises(SystemExit):
        cli.main(["serve"])
    error = capsys.readouterr().err

    assert "not found; run 'make archive' first" in error
    assert local_store.running(project / "serve") is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["serve", "--ports", "abc"], "PORTS='abc' is not three ports"),
        (["scale", "--workers", "0"], "WORKERS='0' is not a whole number of at least 1"),
        (["default", "--version", ""], "VERSION is empty"),
    ],
)
def test_invalid_option_rejected(arguments, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(arguments)

    assert message in capsys.readouterr().err


def test_commands_without_local_store(project, capsys):
    with pytest.raises(SystemExit):
        cli.main(["models"])

    assert "no local store is running; start one with 'make serve'" in capsys.readouterr().err
