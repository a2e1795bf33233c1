import io
import json
import shutil
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image
from torch.jit import TracerWarning

from {{ cookiecutter.package_name }}.model import {{ cookiecutter.__model_class }}
from {{ cookiecutter.package_name }}.scancer import local_store
from {{ cookiecutter.package_name }}.scancer.archive import pack
from {{ cookiecutter.package_name }}.scancer.data import SPLITS
from {{ cookiecutter.package_name }}.scancer.export import save, trace
from {{ cookiecutter.package_name }}.scancer.metadata import METADATA_PATH, load_metadata
from {{ cookiecutter.package_name }}.scancer.paths import archive_path
from {{ cookiecutter.package_name }}.scancer.store import ModelStore
from {{ cookiecutter.package_name }}.scancer.store_auth import read_key_file

from task_fixtures import training_mode_network, write_random_split

IMAGES_PER_SPLIT = 12
LOOPBACK_URLS = r"http://127\.0\.0\.1:[0-9]+/.*"


@pytest.fixture
def metadata():
    return load_metadata()


@pytest.fixture
def data_dir(tmp_path, metadata):
    """A data folder in this task's layout with random images of the model's input shape."""
    folder = tmp_path / "data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split in SPLITS:
        write_random_split(folder, split, metadata, rng, IMAGES_PER_SPLIT)
    return folder


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint of an untrained model, saved as training saves it."""
    L.seed_everything(0)
    model = {{ cookiecutter.__model_class }}()
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.connect(model)
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    return path


@pytest.fixture
def traced_file(tmp_path, checkpoint, metadata):
    model = {{ cookiecutter.__model_class }}.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    example = torch.randn(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    path = tmp_path / "model.pt"
    save(trace(model, example), path)
    return path


def png_of(size, channels, seed=0):
    """Return PNG bytes of random pixels."""
    rng = np.random.default_rng(seed)
    shape = (size, size) if channels == 1 else (size, size, channels)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def examples(tmp_path_factory):
    """Example images for smoke tests, like the PNG files in the repository's examples/."""
    metadata = load_metadata()
    folder = tmp_path_factory.mktemp("examples")
    paths = []
    for index in range(4):
        path = folder / f"example-{index}.png"
        path.write_bytes(png_of(metadata.input_size, metadata.input_channels, seed=index))
        paths.append(path)
    return paths


def free_ports():
    return local_store.free_ports(3)


def start_store(folder, **options):
    """Start a real TorchServe on free loopback ports with folder/model-store as its store."""
    ports = free_ports()
    return local_store.start(folder / "serve", folder / "model-store", ports, **options)


@pytest.fixture(scope="session")
def store_server(tmp_path_factory):
    """A TorchServe with token auth and the model API, which may download from loopback URLs."""
    folder = tmp_path_factory.mktemp("store")
    allowed = [f"file://{folder / 'model-store'}/.*", LOOPBACK_URLS]
    server = start_store(folder, allowed_urls=allowed)
    yield server
    local_store.stop(server.serve_dir)


@pytest.fixture
def store(store_server):
    auth = read_key_file(store_server.key_file)
    with ModelStore(store_server.management_url, store_server.inference_url, auth) as client:
        yield client


def traced_model(seed, path):
    """Trace an untrained model whose weights come from seed."""
    metadata = load_metadata()
    L.seed_everything(seed)
    model = {{ cookiecutter.__model_class }}().eval()
    example = torch.randn(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    save(trace(model, example), path)
    return path


def traced_in_training_mode(path):
    """Trace a network with BatchNorm in training mode, so each output depends on its batch."""
    metadata = load_metadata()
    torch.manual_seed(0)
    network = training_mode_network(metadata)
    example = torch.randn(2, metadata.input_channels, metadata.input_size, metadata.input_size)
    with warnings.catch_warnings():
        # BatchNorm in training mode checks the batch shape, which a trace fixes.
        warnings.filterwarnings("ignore", "Converting a tensor to a Python boolean", TracerWarning)
        save(torch.jit.trace(network, example, check_trace=False), path)
    return path


def pack_version(model_file, version, folder, store_dir):
    """Pack model_file as this model's given version into store_dir; return the archive."""
    document = json.loads(METADATA_PATH.read_text())
    document["version"] = version
    metadata_path = folder / version / "metadata.json"
    metadata_path.parent.mkdir(parents=True)
    metadata_path.write_text(json.dumps(document))
    metadata = load_metadata(metadata_path)
    packed = pack(model_file, metadata, folder / version, metadata_path)
    return Path(shutil.move(packed, archive_path(metadata.model_name, version, store_dir)))


@pytest.fixture(scope="session")
def store_archives(tmp_path_factory, store_server):
    """Archives by version, all in the store's model folder except 5.0.0.

    1.0.0 and 2.0.0 have different weights, the model file of 3.0.0 does not load
    and the outputs of 4.0.0 depend on the batch. 5.0.0 is hosted at a URL that
    the store downloads from.
    """
    folder = tmp_path_factory.mktemp("archives")
    store_dir = Path(store_server.serve_dir).parent / "model-store"
    hosted_dir = folder / "hosted"
    hosted_dir.mkdir()
    unloadable = folder / "unloadable.pt"
    unloadable.write_bytes(b"not a TorchScript file")
    models = {
        "1.0.0": traced_model(0, folder / "seed-0.pt"),
        "2.0.0": traced_model(1, folder / "seed-1.pt"),
        "3.0.0": unloadable,
        "4.0.0": traced_in_training_mode(folder / "training-mode.pt"),
        "5.0.0": traced_model(2, folder / "seed-2.pt"),
    }
    return {
        version: pack_version(
            model_file, version, folder, hosted_dir if version == "5.0.0" else store_dir
        )
        for version, model_file in models.items()
    }
