"""Classification datasets for the simulator, loaded as standardized tensors.

``load_dataset`` is the single entry point. It returns a ``Dataset`` with a train and a
test split, inputs flattened to ``(samples, features)`` and standardized per feature with
statistics of the training split. Parsed files are cached by absolute path, modification
time and size, so a sweep that loads the same dataset many times parses each file once.
"""

from __future__ import annotations

import gzip
import logging
import math
import pickle
import struct
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import attrs
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ..compiler.registry import LARGEST_SEED

logger = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("digits", "mnist", "fashion_mnist", "cifar10", "teacher")

# Datasets read from files under the `path` argument. The others need no files.
_FILE_DATASETS = frozenset({"mnist", "fashion_mnist", "cifar10"})

_OPTIONS: dict[str, tuple[str, ...]] = {
    "digits": ("test_fraction", "train_samples"),
    "mnist": ("train_samples",),
    "fashion_mnist": ("train_samples",),
    "cifar10": ("train_samples",),
    "teacher": ("samples", "dim", "classes", "seed", "test_fraction", "train_samples"),
}

_DEFAULT_TEST_FRACTION = 0.2
_TEACHER_DEFAULTS = {"samples": 4096, "dim": 64, "classes": 10, "seed": 0}

# Rows per block when computing standardization statistics, which bounds the float64
# temporaries to about 100 MB per block for CIFAR-10's 3072 features.
_CHUNK_ROWS = 4096

_IDX_UNSIGNED_BYTE = 0x08
_MNIST_SIDE = 28
_MNIST_CLASSES = 10
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_CIFAR_SUBDIR = "cifar-10-batches-py"
_CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
_CIFAR_TEST_BATCH = "test_batch"
_CIFAR_FEATURES = 3 * 32 * 32
_CIFAR_CLASSES = 10

_T = TypeVar("_T")

# Parsed files and bundled data, keyed by (kind, absolute path, mtime in ns, size).
# Values are read-only numpy arrays, or tuples of them.
_CACHE: dict[tuple[object, ...], object] = {}


class DataError(Exception):
    """Missing or corrupt dataset files, or invalid dataset options."""


@attrs.frozen(eq=False, repr=False)
class Dataset:
    """Train and test splits of a classification dataset.

    Inputs are float tensors of shape ``(samples, features)``, standardized with the
    per-feature mean and std of ``train_x``. Labels are int64 class indices in
    ``[0, classes)``. Instances compare by identity because tensors have no boolean
    equality.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: int

    def __attrs_post_init__(self) -> None:
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dim() != 2 or not x.dtype.is_floating_point:
                raise ValueError(
                    f"{self.name}: {split}_x must be a 2-D float tensor, got {x.dtype} of shape {tuple(x.shape)}"
                )
            if y.dim() != 1 or y.dtype != torch.int64:
                raise ValueError(
                    f"{self.name}: {split}_y must be a 1-D int64 tensor, got {y.dtype} of shape {tuple(y.shape)}"
                )
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"{self.name}: {split}_x has {x.shape[0]} rows but {split}_y has {y.shape[0]} labels")
        if self.train_x.shape[1] != self.test_x.shape[1]:
            raise ValueError(
                f"{self.name}: train_x has {self.train_x.shape[1]} features but test_x has {self.test_x.shape[1]}"
            )

    @property
    def input_dim(self) -> int:
        """Number of input features."""
        return int(self.train_x.shape[1])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, train={tuple(self.train_x.shape)}, test={tuple(self.test_x.shape)}, "
            f"classes={self.classes}, dtype={self.train_x.dtype})"
        )


def load_dataset(
    name: str,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    path: str | None = None,
    search_dirs: Sequence[Path] = (),
    options: Mapping[str, object] = MappingProxyType({}),
) -> Dataset:
    """Load a dataset by name, split it and standardize it.

    ``seed`` picks the train/test split of ``digits`` and ``teacher`` and the order of
    the training samples for every dataset, which decides the subset that
    ``train_samples`` keeps. ``path`` is the directory of the files of ``mnist``,
    ``fashion_mnist`` and ``cifar10``. A relative ``path`` is tried against the current
    directory first, then against each of ``search_dirs`` in order.

    Options: ``train_samples`` (every dataset) keeps the first N training samples,
    ``test_fraction`` (digits, teacher) sets the test share, default 0.2, and ``samples``,
    ``dim``, ``classes`` and ``seed`` (teacher) set the synthetic data.

    ``cifar10`` unpickles its batch files, which runs code from them, so point ``path``
    only at files from a source you trust.

    Raises DataError for an unknown name, invalid options, or missing or corrupt files.
    """
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; expected one of: {', '.join(DATASETS)}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise DataError(f"{name}: dtype must be a torch floating point dtype such as torch.float32, got {dtype!r}")
    _check_seed(name, seed)
    _check_option_names(name, options)
    train_samples = _int_option(name, options, "train_samples", default=None, minimum=1)

    if name in _FILE_DATASETS:
        if path is None:
            raise DataError(f"{name}: path is required; set it to the directory that contains the {name} files")
        if name == "cifar10":
            train_raw, train_y, test_raw, test_y = _load_cifar10(path, search_dirs)
        else:
            train_raw, train_y, test_raw, test_y = _load_mnist_format(name, path, search_dirs)
        classes = _MNIST_CLASSES if name != "cifar10" else _CIFAR_CLASSES
        # Pixels are bytes in [0, 255], so a pixel that is constant in training gets std 255
        # and its standardized test values stay in [-1, 1].
        constant_scale = 255.0
        train_order = np.random.default_rng(seed).permutation(len(train_y))
    else:
        if path is not None:
            raise DataError(f"{name}: path must not be set, because {name} needs no files; got path={path!r}")
        test_fraction = _fraction_option(name, options, "test_fraction", default=_DEFAULT_TEST_FRACTION)
        if name == "digits":
            all_x, all_y = _bundled_digits()
            classes = 10
            # Digit pixels are counts in [0, 16].
            constant_scale = 16.0
            stratify = all_y
        else:
            all_x, all_y, classes = _teacher_from_options(options)
            constant_scale = 1.0
            # A random teacher can leave a class with a single sample, which a stratified split rejects.
            stratify = None
        train_index, test_index = _split_indices(name, all_y, test_fraction, seed, stratify)
        train_raw, train_y, test_raw, test_y = all_x, all_y, all_x[test_index], all_y[test_index]
        # train_test_split already returns the training indices in a seeded random order.
        train_order = train_index

    if train_samples is not None:
        if train_samples > len(train_order):
            raise DataError(
                f"{name}: train_samples={train_samples} exceeds the {len(train_order)} training samples; "
                f"set it to at most {len(train_order)} or remove the option"
            )
        train_order = train_order[:train_samples]
    train_raw = train_raw[train_order]
    train_y = train_y[train_order]

    train_x, test_x = _standardize(train_raw, test_raw, constant_scale, dtype)
    return Dataset(
        name=name,
        train_x=train_x,
        train_y=torch.from_numpy(train_y.astype(np.int64)),
        test_x=test_x,
        test_y=torch.from_numpy(test_y.astype(np.int64)),
        classes=classes,
    )


def clear_cache() -> None:
    """Drop every parsed file from the module cache, freeing its memory."""
    _CACHE.clear()


# ---------------------------------------------------------------------------
# Options


def _check_option_names(name: str, options: Mapping[str, object]) -> None:
    allowed = _OPTIONS[name]
    unknown = sorted(str(key) for key in options if key not in allowed)
    if unknown:
        raise DataError(f"{name}: unknown option(s) {', '.join(unknown)}; allowed options: {', '.join(allowed)}")


def _check_seed(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= LARGEST_SEED:
        raise DataError(f"{name}: seed must be an integer in [0, {LARGEST_SEED}], got {value!r}")


def _int_option(name: str, options: Mapping[str, object], key: str, default: int | None, minimum: int) -> int | None:
    """Read an integer option, accepting integral floats such as 4096.0 from parsed specs."""
    if key not in options:
        return default
    value = options[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DataError(f"{name}: option {key} must be an integer >= {minimum}, got {value!r}")
    return value


def _fraction_option(name: str, options: Mapping[str, object], key: str, default: float) -> float:
    if key not in options:
        return default
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < 1.0:
        raise DataError(f"{name}: option {key} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------
# Splitting and standardization


def _split_indices(
    name: str, labels: np.ndarray, test_fraction: float, seed: int, stratify: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    try:
        train_index, test_index = train_test_split(
            np.arange(len(labels)), test_size=test_fraction, random_state=seed, shuffle=True, stratify=stratify
        )
    except ValueError as error:
        raise DataError(
            f"{name}: cannot split {len(labels)} samples with test_fraction={test_fraction}: {error}; "
            "change test_fraction or use more samples"
        ) from error
    return train_index, test_index


def _standardize(
    train: np.ndarray, test: np.ndarray, constant_scale: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardize both splits with the per-feature mean and std of ``train``.

    A feature that is constant in ``train`` gets std ``constant_scale``, the scale of the
    raw values (255 for pixel bytes), so that its test values stay near the unit scale.
    Statistics are accumulated in float64 over fixed row blocks, so results are bit-identical
    across runs.
    """
    mean = train.mean(axis=0, dtype=np.float64)
    squared_deviation = np.zeros_like(mean)
    # One scratch block for both splits. The test split can be longer than a train_samples subset.
    buffer = np.empty((min(_CHUNK_ROWS, max(len(train), len(test))), len(mean)), dtype=np.float64)
    for start in range(0, len(train), _CHUNK_ROWS):
        rows = train[start : start + _CHUNK_ROWS]
        block = buffer[: len(rows)]
        np.subtract(rows, mean, out=block)
        squared_deviation += np.einsum("ij,ij->j", block, block)
    std = np.sqrt(squared_deviation / len(train))
    std[std == 0.0] = constant_scale

    # numpy has no bfloat16, so narrow types go through float32 and torch converts the rest.
    numpy_dtype = np.float64 if dtype == torch.float64 else np.float32

    def apply(raw: np.ndarray) -> torch.Tensor:
        out = np.empty(raw.shape, dtype=numpy_dtype)
        for start in range(0, len(raw), _CHUNK_ROWS):
            rows = raw[start : start + _CHUNK_ROWS]
            block = buffer[: len(rows)]
            np.subtract(rows, mean, out=block)
            np.divide(block, std, out=block)
            out[start : start + len(rows)] = block
        return torch.from_numpy(out).to(dtype)

    return apply(train), apply(test)


# ---------------------------------------------------------------------------
# Caching and file lookup


def _cached(kind: str, path: Path, parse: Callable[[Path], _T]) -> _T:
    """Return ``parse(path)``, reusing the result while the file's mtime and size are unchanged."""
    resolved = path.resolve()
    try:
        stat = resolved.stat()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error}") from error
    key = (kind, str(resolved), stat.st_mtime_ns, stat.st_size)
    if key in _CACHE:
        return _CACHE[key]  # type: ignore[return-value]
    value = parse(path)
    # Drop older versions of the same file so that a rewritten file does not pin its old contents.
    for stale in [old for old in _CACHE if old[:2] == key[:2]]:
        del _CACHE[stale]
    _CACHE[key] = value
    return value


def _candidate_dirs(path: str, search_dirs: Sequence[Path], subdirs: Sequence[str]) -> list[Path]:
    requested = Path(path).expanduser()
    if requested.is_absolute():
        bases = [requested]
    else:
        bases = [requested, *(Path(directory) / requested for directory in search_dirs)]
    candidates: list[Path] = []
    seen: set[Path] = set()
    for base in bases:
        for subdir in subdirs:
            candidate = base / subdir if subdir else base
            resolved = candidate.resolve()
            if resolved not in seen:
                seen.add(resolved)
                candidates.append(candidate)
    return candidates


def _locate_files(
    name: str,
    path: str,
    search_dirs: Sequence[Path],
    accepted_names: Mapping[str, tuple[str, ...]],
    labels: Mapping[str, str],
    subdirs: Sequence[str],
    advice: str,
) -> dict[str, Path]:
    """Return the files of the first candidate directory that has one accepted name per role.

    ``accepted_names`` maps each role to its file names in order of preference, and
    ``labels`` maps each role to how error messages show it. Raises DataError naming the
    missing files and every directory tried.
    """
    if not path:
        raise DataError(f"{name}: path is empty; set it to the directory that contains the {name} files")
    candidates = _candidate_dirs(path, search_dirs, subdirs)
    existing = [directory for directory in candidates if directory.is_dir()]
    expected = ", ".join(labels[role] for role in accepted_names)

    for directory in existing:
        found = _match_files(directory, accepted_names)
        if len(found) == len(accepted_names):
            return found

    if not existing:
        tried = _format_tried(candidates[0], candidates)
        raise DataError(f"{name}: directory not found: {tried}; expected files {expected}; {advice}")

    # Report the directory that is closest to complete, the first one on a tie.
    closest = max(existing, key=lambda directory: len(_match_files(directory, accepted_names)))
    found = _match_files(closest, accepted_names)
    missing = ", ".join(labels[role] for role in accepted_names if role not in found)
    tried = _format_tried(closest, candidates)
    raise DataError(f"{name}: file not found: {missing} in {tried}; {advice}")


def _match_files(directory: Path, accepted_names: Mapping[str, tuple[str, ...]]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for role, file_names in accepted_names.items():
        for file_name in file_names:
            if (directory / file_name).is_file():
                found[role] = directory / file_name
                break
    return found


def _format_tried(primary: Path, candidates: Sequence[Path]) -> str:
    others = [str(candidate) for candidate in candidates if candidate != primary]
    if not others:
        return str(primary)
    return f"{primary} (also looked in {', '.join(others)})"


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as file:
                return file.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        # gzip.BadGzipFile is an OSError. A truncated gzip stream raises EOFError.
        raise DataError(f"cannot read {path}: {error}; download the file again") from error


# ---------------------------------------------------------------------------
# MNIST and Fashion-MNIST (IDX files)


def _load_mnist_format(
    name: str, path: str, search_dirs: Sequence[Path]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    accepted = {role: (file_name, file_name + ".gz") for role, file_name in _IDX_FILES.items()}
    labels = {role: f"{file_name}(.gz)" for role, file_name in _IDX_FILES.items()}
    files = _locate_files(
        name, path, search_dirs, accepted, labels, subdirs=("",),
        advice="download the four IDX files (plain or gzipped) into that directory",
    )
    train_x, train_y = _mnist_split(name, files["train_images"], files["train_labels"])
    test_x, test_y = _mnist_split(name, files["test_images"], files["test_labels"])
    return train_x, train_y, test_x, test_y


def _mnist_split(name: str, images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = _cached("idx3", images_path, lambda file: _parse_idx(file, ndim=3))
    labels = _cached("idx1", labels_path, lambda file: _parse_idx(file, ndim=1))
    if images.shape[1:] != (_MNIST_SIDE, _MNIST_SIDE):
        raise DataError(
            f"{name}: {images_path} contains images of {images.shape[1]}x{images.shape[2]} pixels, "
            f"expected {_MNIST_SIDE}x{_MNIST_SIDE}; check that path points to the {name} files"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{name}: {images_path} contains {len(images)} images but {labels_path} contains {len(labels)} labels; "
            "download both files again from the same release"
        )
    if len(labels) and labels.max() >= _MNIST_CLASSES:
        raise DataError(
            f"{name}: {labels_path} contains label {int(labels.max())}, expected labels in [0, {_MNIST_CLASSES}); "
            f"check that path points to the {name} files"
        )
    return images.reshape(len(images), -1), labels


def _parse_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes with ``ndim`` dimensions into a read-only array.

    The header is two zero bytes, a type byte (0x08 for unsigned bytes), a byte with
    the number of dimensions, then each dimension as a big-endian uint32.
    """
    raw = _read_bytes(path)
    logger.debug("parsing IDX file %s (%d bytes)", path, len(raw))
    expected_magic = (_IDX_UNSIGNED_BYTE << 8) | ndim
    if len(raw) < 4:
        raise DataError(f"{path}: file has {len(raw)} bytes, too short for an IDX header; download it again")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise DataError(
            f"{path}: invalid IDX magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"(unsigned bytes, {ndim} dimensions); the file is corrupt or of another kind, download it again"
        )
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path}: file has {len(raw)} bytes, too short for an IDX header of {ndim} dimensions")
    dims = tuple(int(size) for size in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data_size = math.prod(dims)
    if len(raw) - header_size != data_size:
        raise DataError(
            f"{path}: header declares shape {dims} ({data_size} bytes of data) but the file has "
            f"{len(raw) - header_size} bytes after the header; the file is truncated or corrupt, download it again"
        )
    # frombuffer over bytes gives a read-only array, which protects the cached copy.
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(dims)


# ---------------------------------------------------------------------------
# CIFAR-10 (python pickles)


def _load_cifar10(path: str, search_dirs: Sequence[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    batch_names = (*_CIFAR_TRAIN_BATCHES, _CIFAR_TEST_BATCH)
    files = _locate_files(
        "cifar10", path, search_dirs,
        accepted_names={batch: (batch,) for batch in batch_names},
        labels={batch: batch for batch in batch_names},
        subdirs=("", _CIFAR_SUBDIR),
        advice=f"download cifar-10-python.tar.gz and extract it there (it unpacks to {_CIFAR_SUBDIR}/)",
    )
    train_batches = [_cached("cifar10", files[batch], _parse_cifar_batch) for batch in _CIFAR_TRAIN_BATCHES]
    test_x, test_y = _cached("cifar10", files[_CIFAR_TEST_BATCH], _parse_cifar_batch)
    train_x = np.concatenate([images for images, _ in train_batches])
    train_y = np.concatenate([labels for _, labels in train_batches])
    return train_x, train_y, test_x, test_y


def _parse_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Unpickle one CIFAR-10 batch into read-only (images, labels) arrays.

    Each image row is 1024 red, then 1024 green, then 1024 blue bytes.
    """
    logger.debug("unpickling CIFAR-10 batch %s", path)
    # SECURITY: unpickling runs code chosen by the file, so load only CIFAR-10 batches from a
    # source you trust. The pickles are the official "python version" distribution format.
    # A corrupt batch can even crash the interpreter inside numpy's array reconstruction.
    try:
        with path.open("rb") as file:
            batch = pickle.load(file, encoding="bytes")
    except OSError as error:
        raise DataError(f"cannot read {path}: {error}") from error
    except (
        pickle.UnpicklingError, EOFError, AttributeError, ImportError, LookupError, ValueError, TypeError, struct.error
    ) as error:
        # Python's pickle documentation names AttributeError, EOFError, ImportError and IndexError
        # besides UnpicklingError. Byte-flipped batches also raised ValueError and LookupError.
        raise DataError(f"{path}: not a valid CIFAR-10 pickle ({error}); download and extract it again") from error

    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"{path}: expected a dict with keys b'data' and b'labels', got {found}; download it again")
    images = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"])
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != _CIFAR_FEATURES:
        raise DataError(
            f"{path}: b'data' must be a uint8 array of shape (N, {_CIFAR_FEATURES}), "
            f"got {images.dtype} of shape {images.shape}; download it again"
        )
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{path}: b'labels' must contain one integer per image ({len(images)}), "
            f"got {labels.dtype} of shape {labels.shape}; download it again"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= _CIFAR_CLASSES):
        raise DataError(
            f"{path}: labels must be in [0, {_CIFAR_CLASSES}), got range [{labels.min()}, {labels.max()}]; "
            "download it again"
        )
    images = np.array(images, dtype=np.uint8)
    labels = labels.astype(np.int64)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


# ---------------------------------------------------------------------------
# Bundled and synthetic data


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's 8x8 digits as (1797, 64) float64 pixels and int64 labels."""
    key = ("sklearn.datasets.load_digits",)
    if key not in _CACHE:
        x, y = load_digits(return_X_y=True)
        x = np.ascontiguousarray(x, dtype=np.float64)
        y = y.astype(np.int64)
        x.flags.writeable = False
        y.flags.writeable = False
        _CACHE[key] = (x, y)
    return _CACHE[key]  # type: ignore[return-value]


def _teacher_from_options(options: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray, int]:
    samples = _int_option("teacher", options, "samples", default=_TEACHER_DEFAULTS["samples"], minimum=2)
    dim = _int_option("teacher", options, "dim", default=_TEACHER_DEFAULTS["dim"], minimum=1)
    classes = _int_option("teacher", options, "classes", default=_TEACHER_DEFAULTS["classes"], minimum=2)
    teacher_seed = _int_option("teacher", options, "seed", default=_TEACHER_DEFAULTS["seed"], minimum=0)
    x, y = _teacher_samples(samples, dim, classes, teacher_seed)
    return x, y, classes


def _teacher_samples(samples: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw Gaussian inputs and label them by the argmax of a random two-layer tanh network.

    The teacher has ``dim`` hidden units and no biases. Its weights have variance
    1/fan_in, so hidden pre-activations have unit variance. Weights are drawn before the
    inputs, so the teacher depends only on (dim, classes, seed), and a larger ``samples``
    extends the same input sequence.
    """
    rng = np.random.default_rng(seed)
    hidden_weight = rng.standard_normal((dim, dim)) / math.sqrt(dim)
    output_weight = rng.standard_normal((dim, classes)) / math.sqrt(dim)
    x = rng.standard_normal((samples, dim))
    logits = np.tanh(x @ hidden_weight) @ output_weight
    return x, logits.argmax(axis=1).astype(np.int64)
