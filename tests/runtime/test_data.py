"""Tests for localmup.runtime.data: bundled, file-backed and synthetic datasets."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from localmup.runtime import data
from localmup.runtime.data import DATASETS, DataError, Dataset, load_dataset

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@pytest.fixture(autouse=True)
def empty_cache():
    """Start every test with an empty parse cache, so tests cannot see each other's files."""
    data.clear_cache()
    yield
    data.clear_cache()


def write_idx(path: Path, array: np.ndarray, magic: int | None = None, compress: bool = False) -> Path:
    """Write a uint8 array as an IDX file, optionally with a wrong magic number or gzipped."""
    if magic is None:
        magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)
    return path


def fake_mnist(directory: Path, train: int = 12, test: int = 5, compress: bool = False, seed: int = 0) -> dict:
    """Write four small IDX files of random 28x28 images and return the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for file_name, array in arrays.items():
        write_idx(directory / file_name, array, compress=compress)
    return arrays


def fake_cifar(directory: Path, per_batch: int = 4) -> dict[str, dict]:
    """Write six small CIFAR-10 pickles and return the batches written."""
    rng = np.random.default_rng(1)
    directory.mkdir(parents=True, exist_ok=True)
    batches = {}
    for batch_name in [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8),
            b"labels": [int(label) for label in rng.integers(0, 10, size=per_batch)],
        }
        with (directory / batch_name).open("wb") as file:
            pickle.dump(batch, file)
        batches[batch_name] = batch
    return batches


def sorted_rows(x: torch.Tensor) -> np.ndarray:
    """Return the rows of x in lexicographic order, to compare sets of samples."""
    array = x.numpy()
    return array[np.lexsort(array.T[::-1])]


# ---------------------------------------------------------------------------
# Registry and argument validation


def test_registry_names():
    assert DATASETS == ("digits", "mnist", "fashion_mnist", "cifar10", "teacher")


def test_unknown_name_rejected():
    with pytest.raises(DataError, match="unknown dataset 'svhn'") as raised:
        load_dataset("svhn")
    assert "digits" in str(raised.value)


def test_unknown_option_lists_allowed():
    with pytest.raises(DataError, match="unknown option") as raised:
        load_dataset("digits", options={"batch": 3})
    assert "batch" in str(raised.value)
    assert "test_fraction, train_samples" in str(raised.value)


def test_path_rejected_for_digits():
    with pytest.raises(DataError, match="path must not be set"):
        load_dataset("digits", path="data")


def test_path_required_for_mnist():
    with pytest.raises(DataError, match="path is required"):
        load_dataset("mnist")


def test_integer_dtype_rejected():
    with pytest.raises(DataError, match="dtype"):
        load_dataset("digits", dtype=torch.int64)


def test_negative_seed_rejected():
    with pytest.raises(DataError, match="seed must be an integer"):
        load_dataset("digits", seed=-1)


# ---------------------------------------------------------------------------
# digits


def test_digits_shapes():
    dataset = load_dataset("digits")
    assert dataset.train_x.shape == (1437, 64)
    assert dataset.test_x.shape == (360, 64)
    assert dataset.train_y.shape == (1437,)
    assert dataset.test_y.shape == (360,)
    assert dataset.input_dim == 64


def test_digits_classes_and_dtypes():
    dataset = load_dataset("digits")
    assert dataset.name == "digits"
    assert dataset.classes == 10
    assert dataset.train_x.dtype == torch.float32
    assert dataset.test_x.dtype == torch.float32
    assert dataset.train_y.dtype == torch.int64
    assert set(dataset.train_y.tolist()) == set(range(10))
    assert set(dataset.test_y.tolist()) == set(range(10))


def test_digits_standardized():
    dataset = load_dataset("digits", dtype=torch.float64)
    std = dataset.train_x.std(dim=0, unbiased=False)
    varying = std > 0
    assert 50 <= int(varying.sum()) < 64  # a few border pixels are always 0
    assert torch.allclose(dataset.train_x.mean(dim=0), torch.zeros(64, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(std[varying], torch.ones(int(varying.sum()), dtype=torch.float64), atol=1e-12)


def test_digits_constant_feature_zero():
    dataset = load_dataset("digits")
    constant = dataset.train_x.std(dim=0) == 0
    assert bool(constant.any())
    assert bool((dataset.train_x[:, constant] == 0).all())


def test_digits_deterministic():
    first = load_dataset("digits", seed=3)
    data.clear_cache()
    second = load_dataset("digits", seed=3)
    assert torch.equal(first.train_x, second.train_x)
    assert torch.equal(first.train_y, second.train_y)
    assert torch.equal(first.test_x, second.test_x)
    assert torch.equal(first.test_y, second.test_y)


def test_digits_seed_changes_split():
    first = load_dataset("digits", seed=0)
    second = load_dataset("digits", seed=1)
    assert not torch.equal(first.test_y, second.test_y)
    assert not torch.equal(first.train_x, second.train_x)


def test_digits_split_stratified():
    dataset = load_dataset("digits")
    train_share = torch.bincount(dataset.train_y, minlength=10) / len(dataset.train_y)
    test_share = torch.bincount(dataset.test_y, minlength=10) / len(dataset.test_y)
    assert torch.allclose(train_share, test_share, atol=0.01)


def test_digits_test_fraction_option():
    dataset = load_dataset("digits", options={"test_fraction": 0.5})
    assert len(dataset.test_y) == 899
    assert len(dataset.train_y) == 898


def test_digits_test_fraction_out_of_range():
    with pytest.raises(DataError, match="test_fraction must be a number strictly between 0 and 1, got 1.5"):
        load_dataset("digits", options={"test_fraction": 1.5})


def test_digits_test_split_too_small():
    with pytest.raises(DataError, match="cannot split 1797 samples"):
        load_dataset("digits", options={"test_fraction": 0.001})


def test_digits_float64():
    dataset = load_dataset("digits", dtype=torch.float64)
    assert dataset.train_x.dtype == torch.float64
    assert dataset.test_x.dtype == torch.float64
    single = load_dataset("digits")
    assert torch.allclose(dataset.train_x.float(), single.train_x)


def test_digits_bfloat16():
    dataset = load_dataset("digits", dtype=torch.bfloat16)
    assert dataset.train_x.dtype == torch.bfloat16
    assert dataset.test_x.dtype == torch.bfloat16


# ---------------------------------------------------------------------------
# train_samples


def test_train_samples_keeps_prefix():
    full = load_dataset("digits", seed=2)
    subset = load_dataset("digits", seed=2, options={"train_samples": 100})
    assert subset.train_x.shape == (100, 64)
    assert torch.equal(subset.train_y, full.train_y[:100])
    assert torch.equal(subset.test_y, full.test_y)


def test_train_samples_standardized_on_subset():
    subset = load_dataset("digits", dtype=torch.float64, options={"train_samples": 100})
    assert torch.allclose(subset.train_x.mean(dim=0), torch.zeros(64, dtype=torch.float64), atol=1e-12)


def test_train_samples_too_many():
    with pytest.raises(DataError, match="train_samples=5000 exceeds the 1437 training samples"):
        load_dataset("digits", options={"train_samples": 5000})


def test_train_samples_zero_rejected():
    with pytest.raises(DataError, match="train_samples must be an integer >= 1, got 0"):
        load_dataset("digits", options={"train_samples": 0})


def test_train_samples_bool_rejected():
    with pytest.raises(DataError, match="train_samples must be an integer"):
        load_dataset("digits", options={"train_samples": True})


def test_train_samples_integral_float():
    dataset = load_dataset("digits", options={"train_samples": 10.0})
    assert len(dataset.train_y) == 10


def test_train_samples_mnist(tmp_path):
    fake_mnist(tmp_path, train=12, test=20)
    dataset = load_dataset("mnist", path=str(tmp_path), options={"train_samples": 5})
    assert dataset.train_x.shape == (5, 784)
    assert dataset.test_x.shape == (20, 784)


# ---------------------------------------------------------------------------
# mnist and fashion_mnist


def standardized(arrays: dict) -> tuple[np.ndarray, np.ndarray]:
    """Return the train and test pixels of fake_mnist arrays, standardized by train statistics."""
    train = arrays["train-images-idx3-ubyte"].reshape(len(arrays["train-labels-idx1-ubyte"]), -1).astype(np.float64)
    test = arrays["t10k-images-idx3-ubyte"].reshape(len(arrays["t10k-labels-idx1-ubyte"]), -1).astype(np.float64)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 255.0
    return (train - mean) / std, (test - mean) / std


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_idx_round_trip(tmp_path, compress):
    arrays = fake_mnist(tmp_path, compress=compress)
    dataset = load_dataset("mnist", path=str(tmp_path), dtype=torch.float64)
    expected_train, expected_test = standardized(arrays)
    assert dataset.train_x.shape == (12, 784)
    assert dataset.test_x.shape == (5, 784)
    assert dataset.classes == 10
    assert dataset.input_dim == 784
    assert dataset.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    np.testing.assert_allclose(dataset.test_x.numpy(), expected_test, rtol=1e-12, atol=1e-12)
    # Training samples come in a seeded order, so compare them as sorted (label, pixels) rows.
    loaded_rows = torch.column_stack([dataset.train_y.double(), dataset.train_x])
    expected_rows = np.column_stack([arrays["train-labels-idx1-ubyte"], expected_train])
    np.testing.assert_allclose(sorted_rows(loaded_rows), sorted_rows(torch.from_numpy(expected_rows)), atol=1e-12)


def test_idx_mixed_plain_and_gzip(tmp_path):
    arrays = fake_mnist(tmp_path)
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.unlink()
    write_idx(plain, arrays["t10k-labels-idx1-ubyte"], compress=True)
    dataset = load_dataset("mnist", path=str(tmp_path))
    assert torch.equal(dataset.test_y, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))


def test_idx_constant_pixel(tmp_path):
    fake_mnist(tmp_path)
    images = np.random.default_rng(5).integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = 0
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    test_images = np.zeros((5, 28, 28), dtype=np.uint8)
    test_images[:, 0, 0] = 51
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test_images)
    dataset = load_dataset("mnist", path=str(tmp_path), dtype=torch.float64)
    assert bool((dataset.train_x[:, 0] == 0).all())
    # A pixel constant in training gets std 255, so a test value of 51 becomes 51 / 255.
    assert torch.allclose(dataset.test_x[:, 0], torch.full((5,), 51 / 255, dtype=torch.float64))


def test_fashion_mnist_name(tmp_path):
    fake_mnist(tmp_path)
    dataset = load_dataset("fashion_mnist", path=str(tmp_path))
    assert dataset.name == "fashion_mnist"
    assert dataset.input_dim == 784


def test_idx_deterministic(tmp_path):
    fake_mnist(tmp_path)
    first = load_dataset("mnist", path=str(tmp_path), seed=4)
    data.clear_cache()
    second = load_dataset("mnist", path=str(tmp_path), seed=4)
    assert torch.equal(first.train_x, second.train_x)
    assert torch.equal(first.train_y, second.train_y)
    assert torch.equal(first.test_x, second.test_x)


def test_idx_seed_changes_train_order(tmp_path):
    fake_mnist(tmp_path, train=40)
    first = load_dataset("mnist", path=str(tmp_path), seed=0)
    second = load_dataset("mnist", path=str(tmp_path), seed=1)
    assert not torch.equal(first.train_x, second.train_x)
    assert torch.equal(first.test_x, second.test_x)


def test_idx_corrupt_magic(tmp_path):
    arrays = fake_mnist(tmp_path)
    bad = write_idx(tmp_path / "train-labels-idx1-ubyte", arrays["train-labels-idx1-ubyte"], magic=0x00000803)
    with pytest.raises(DataError, match="invalid IDX magic number 0x00000803, expected 0x00000801") as raised:
        load_dataset("mnist", path=str(tmp_path))
    assert str(bad) in str(raised.value)


def test_idx_corrupt_magic_gzip(tmp_path):
    arrays = fake_mnist(tmp_path, compress=True)
    images = arrays["t10k-images-idx3-ubyte"]
    bad = write_idx(tmp_path / "t10k-images-idx3-ubyte", images, magic=0x12345678, compress=True)
    with pytest.raises(DataError, match="invalid IDX magic number") as raised:
        load_dataset("mnist", path=str(tmp_path))
    assert str(bad) in str(raised.value)


def test_idx_truncated(tmp_path):
    fake_mnist(tmp_path)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated or corrupt") as raised:
        load_dataset("mnist", path=str(tmp_path))
    assert str(images) in str(raised.value)


def test_idx_trailing_bytes(tmp_path):
    fake_mnist(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes() + b"\x00\x00")
    with pytest.raises(DataError, match="5 bytes of data\\) but the file has 7 bytes after the header") as raised:
        load_dataset("mnist", path=str(tmp_path))
    assert str(labels) in str(raised.value)


def test_idx_short_header(tmp_path):
    fake_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="too short for an IDX header") as raised:
        load_dataset("mnist", path=str(tmp_path))
    assert str(labels) in str(raised.value)


def test_idx_bad_gzip(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    broken = tmp_path / "train-images-idx3-ubyte.gz"
    broken.write_bytes(b"not gzip data")
    with pytest.raises(DataError, match="cannot read") as raised:
        load_dataset("mnist", path=str(tmp_path))
    assert str(broken) in str(raised.value)


def test_idx_count_mismatch(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, dtype=np.uint8))
    with pytest.raises(DataError, match="12 images but .* 11 labels"):
        load_dataset("mnist", path=str(tmp_path))


def test_idx_wrong_image_size(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((5, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match="32x32 pixels, expected 28x28"):
        load_dataset("mnist", path=str(tmp_path))


def test_idx_label_out_of_range(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3, 10], dtype=np.uint8))
    with pytest.raises(DataError, match="contains label 10"):
        load_dataset("mnist", path=str(tmp_path))


def test_missing_directory_lists_tried(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    specs = tmp_path / "specs"
    with pytest.raises(DataError, match="fashion_mnist: directory not found") as raised:
        load_dataset("fashion_mnist", path="data/fashion", search_dirs=[specs])
    message = str(raised.value)
    assert "data/fashion (also looked in" in message
    assert str(specs / "data" / "fashion") in message
    for file_name in IDX_NAMES:
        assert f"{file_name}(.gz)" in message


def test_missing_file_lists_tried(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_mnist(tmp_path / "data" / "fashion")
    (tmp_path / "data" / "fashion" / "train-images-idx3-ubyte").unlink()
    specs = tmp_path / "specs"
    with pytest.raises(DataError, match="file not found: train-images-idx3-ubyte\\(.gz\\) in data/fashion") as raised:
        load_dataset("fashion_mnist", path="data/fashion", search_dirs=[specs])
    message = str(raised.value)
    assert f"also looked in {specs / 'data' / 'fashion'}" in message
    assert "train-labels-idx1-ubyte" not in message
    assert "download" in message


def test_relative_path_uses_search_dirs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "mnist").mkdir(parents=True)  # exists but empty, so it is skipped
    fake_mnist(tmp_path / "specs" / "data" / "mnist")
    dataset = load_dataset("mnist", path="data/mnist", search_dirs=[tmp_path / "other", tmp_path / "specs"])
    assert dataset.train_x.shape == (12, 784)


def test_relative_path_prefers_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_mnist(tmp_path / "data", train=7)
    fake_mnist(tmp_path / "specs" / "data", train=9)
    dataset = load_dataset("mnist", path="data", search_dirs=[tmp_path / "specs"])
    assert len(dataset.train_y) == 7


def test_absolute_path_ignores_search_dirs(tmp_path):
    fake_mnist(tmp_path / "specs" / "data")
    missing = tmp_path / "data"
    with pytest.raises(DataError, match="directory not found") as raised:
        load_dataset("mnist", path=str(missing), search_dirs=[tmp_path / "specs"])
    assert "also looked in" not in str(raised.value)


# ---------------------------------------------------------------------------
# Cache


def test_cache_skips_reparse(tmp_path, monkeypatch):
    fake_mnist(tmp_path)
    load_dataset("mnist", path=str(tmp_path))

    def fail(path, ndim):
        raise AssertionError(f"re-parsed {path}")

    monkeypatch.setattr(data, "_parse_idx", fail)
    dataset = load_dataset("mnist", path=str(tmp_path))
    assert len(dataset.train_y) == 12


def test_cache_rereads_changed_file(tmp_path):
    fake_mnist(tmp_path)
    load_dataset("mnist", path=str(tmp_path))
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    write_idx(labels, np.full(5, 7, dtype=np.uint8))
    stat = labels.stat()
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    dataset = load_dataset("mnist", path=str(tmp_path))
    assert dataset.test_y.tolist() == [7, 7, 7, 7, 7]


def test_cached_arrays_not_mutated(tmp_path):
    fake_mnist(tmp_path)
    first = load_dataset("mnist", path=str(tmp_path))
    first.train_x.add_(100.0)
    first.test_y.fill_(3)
    second = load_dataset("mnist", path=str(tmp_path))
    assert abs(float(second.train_x.mean())) < 1e-3
    assert not torch.equal(second.test_y, first.test_y)


# ---------------------------------------------------------------------------
# cifar10


@pytest.mark.parametrize("layout", ["flat", "extracted"])
def test_cifar_layouts(tmp_path, layout):
    directory = tmp_path if layout == "flat" else tmp_path / "cifar-10-batches-py"
    batches = fake_cifar(directory)
    dataset = load_dataset("cifar10", path=str(tmp_path))
    assert dataset.train_x.shape == (20, 3072)
    assert dataset.test_x.shape == (4, 3072)
    assert dataset.classes == 10
    assert dataset.input_dim == 3072
    assert dataset.test_y.tolist() == batches["test_batch"][b"labels"]
    all_train_labels = sum((batches[f"data_batch_{index}"][b"labels"] for index in range(1, 6)), [])
    assert sorted(dataset.train_y.tolist()) == sorted(all_train_labels)


def test_cifar_missing_batch(tmp_path):
    fake_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="file not found: data_batch_3 in") as raised:
        load_dataset("cifar10", path=str(tmp_path))
    assert str(tmp_path / "cifar-10-batches-py") in str(raised.value)
    assert "cifar-10-python.tar.gz" in str(raised.value)


def test_cifar_missing_directory(tmp_path):
    with pytest.raises(DataError, match="cifar10: directory not found") as raised:
        load_dataset("cifar10", path=str(tmp_path / "cifar"))
    message = str(raised.value)
    assert str(tmp_path / "cifar") in message
    assert str(tmp_path / "cifar" / "cifar-10-batches-py") in message
    assert "data_batch_1" in message
    assert "test_batch" in message


def test_cifar_corrupt_pickle(tmp_path):
    fake_cifar(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match="not a valid CIFAR-10 pickle") as raised:
        load_dataset("cifar10", path=str(tmp_path))
    assert str(tmp_path / "data_batch_2") in str(raised.value)


def test_cifar_wrong_keys(tmp_path):
    fake_cifar(tmp_path)
    with (tmp_path / "test_batch").open("wb") as file:
        pickle.dump({b"images": np.zeros((4, 3072), dtype=np.uint8)}, file)
    with pytest.raises(DataError, match="expected a dict with keys b'data' and b'labels'"):
        load_dataset("cifar10", path=str(tmp_path))


def test_cifar_wrong_shape(tmp_path):
    fake_cifar(tmp_path)
    with (tmp_path / "test_batch").open("wb") as file:
        pickle.dump({b"data": np.zeros((4, 100), dtype=np.uint8), b"labels": [0, 1, 2, 3]}, file)
    with pytest.raises(DataError, match="shape \\(N, 3072\\)"):
        load_dataset("cifar10", path=str(tmp_path))


def test_cifar_label_count_mismatch(tmp_path):
    fake_cifar(tmp_path)
    with (tmp_path / "test_batch").open("wb") as file:
        pickle.dump({b"data": np.zeros((4, 3072), dtype=np.uint8), b"labels": [0, 1, 2]}, file)
    with pytest.raises(DataError, match="one integer per image"):
        load_dataset("cifar10", path=str(tmp_path))


# ---------------------------------------------------------------------------
# teacher


def test_teacher_shapes():
    dataset = load_dataset("teacher", options={"samples": 500, "dim": 16, "classes": 4})
    assert dataset.train_x.shape == (400, 16)
    assert dataset.test_x.shape == (100, 16)
    assert dataset.classes == 4
    assert int(dataset.train_y.min()) >= 0
    assert int(dataset.train_y.max()) < 4


def test_teacher_defaults():
    dataset = load_dataset("teacher")
    assert len(dataset.train_y) + len(dataset.test_y) == 4096
    assert dataset.input_dim == 64
    assert dataset.classes == 10


def test_teacher_uses_several_classes():
    dataset = load_dataset("teacher", options={"samples": 1000, "classes": 5})
    assert len(set(dataset.train_y.tolist())) == 5


def test_teacher_deterministic():
    options = {"samples": 300, "dim": 8, "seed": 11}
    first = load_dataset("teacher", seed=2, options=options)
    second = load_dataset("teacher", seed=2, options=options)
    assert torch.equal(first.train_x, second.train_x)
    assert torch.equal(first.train_y, second.train_y)
    assert torch.equal(first.test_x, second.test_x)
    assert torch.equal(first.test_y, second.test_y)


def test_teacher_split_seed_same_data():
    options = {"samples": 300, "dim": 8}
    first = load_dataset("teacher", seed=0, options=options, dtype=torch.float64)
    second = load_dataset("teacher", seed=1, options=options, dtype=torch.float64)
    assert not torch.equal(first.test_y, second.test_y)
    # Both splits partition the same 300 labels.
    first_labels = sorted(first.train_y.tolist() + first.test_y.tolist())
    second_labels = sorted(second.train_y.tolist() + second.test_y.tolist())
    assert first_labels == second_labels


def test_teacher_option_seed_changes_data():
    first = load_dataset("teacher", options={"samples": 300, "dim": 8, "seed": 0})
    second = load_dataset("teacher", options={"samples": 300, "dim": 8, "seed": 1})
    assert not torch.equal(first.train_y, second.train_y)


def test_teacher_samples_extend_prefix():
    x, y = data._teacher_samples(samples=200, dim=6, classes=3, seed=7)
    x_more, y_more = data._teacher_samples(samples=400, dim=6, classes=3, seed=7)
    assert np.array_equal(x, x_more[:200])
    assert np.array_equal(y, y_more[:200])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"classes": 1}, "classes must be an integer >= 2, got 1"),
        ({"samples": 1}, "samples must be an integer >= 2, got 1"),
        ({"dim": 0}, "dim must be an integer >= 1, got 0"),
        ({"dim": "64"}, "dim must be an integer >= 1, got '64'"),
        ({"seed": -3}, "seed must be an integer >= 0, got -3"),
        ({"samples": 2.5}, "samples must be an integer >= 2, got 2.5"),
        ({"width": 3}, "unknown option\\(s\\) width; allowed options: samples, dim, classes, seed"),
    ],
    ids=["classes", "samples", "dim", "dim_string", "seed", "samples_fraction", "unknown"],
)
def test_teacher_option_invalid(options, message):
    with pytest.raises(DataError, match=message):
        load_dataset("teacher", options=options)


def test_teacher_path_rejected():
    with pytest.raises(DataError, match="path must not be set"):
        load_dataset("teacher", path="data")


# ---------------------------------------------------------------------------
# Dataset


def test_dataset_rejects_length_mismatch():
    with pytest.raises(ValueError, match="train_x has 3 rows but train_y has 2 labels"):
        Dataset(
            name="custom",
            train_x=torch.zeros(3, 2),
            train_y=torch.zeros(2, dtype=torch.int64),
            test_x=torch.zeros(1, 2),
            test_y=torch.zeros(1, dtype=torch.int64),
            classes=2,
        )


def test_dataset_repr_short():
    dataset = load_dataset("digits")
    assert repr(dataset) == "Dataset(name='digits', train=(1437, 64), test=(360, 64), classes=10, dtype=torch.float32)"
