"""cifar10 / cifar100: pickled batch dicts written here like the real archives, and hostile pickles."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from service.moda.data import load_dataset
from service.moda.errors import DatasetUnavailable, InvalidInput

CIFAR10_NAMES = [
    b"airplane",
    b"automobile",
    b"bird",
    b"cat",
    b"deer",
    b"dog",
    b"frog",
    b"horse",
    b"ship",
    b"truck",
]


def random_batch(seed: int, n: int, num_classes: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    labels = [int(v) for v in rng.integers(0, num_classes, n)]
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), labels


def dump(path: Path, obj: Any, protocol: int = 4) -> None:
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def write_cifar10(directory: Path, protocol: int = 4, per_batch: int = 2) -> dict[str, np.ndarray]:
    directory.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for i in range(1, 6):
        x, y = random_batch(i, per_batch, 10)
        dump(
            directory / f"data_batch_{i}",
            {b"batch_label": b"training batch", b"data": x, b"labels": y},
            protocol,
        )
        xs.append(x)
        ys.extend(y)
    x_test, y_test = random_batch(9, 3, 10)
    dump(
        directory / "test_batch",
        {b"batch_label": b"testing batch", b"data": x_test, b"labels": y_test},
        protocol,
    )
    dump(
        directory / "batches.meta",
        {b"label_names": CIFAR10_NAMES, b"num_cases_per_batch": per_batch},
        protocol,
    )
    return {
        "x_train": np.concatenate(xs),
        "y_train": np.array(ys),
        "x_test": x_test,
        "y_test": np.array(y_test),
    }


def test_cifar10_pixels_channels_and_labels(tmp_path: Path) -> None:
    arrays = write_cifar10(tmp_path)
    ds = load_dataset("cifar10", tmp_path)

    assert ds.x_train.shape == (10, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    # Row layout: 1024 red values, then green, then blue, each plane row-major.
    x = arrays["x_train"]
    assert ds.x_train[7, 0, 3, 5].item() == float(x[7, 0 * 1024 + 3 * 32 + 5])
    assert ds.x_train[7, 1, 3, 5].item() == float(x[7, 1 * 1024 + 3 * 32 + 5])
    assert ds.x_train[2, 2, 31, 0].item() == float(x[2, 2 * 1024 + 31 * 32 + 0])
    assert ds.x_test[1, 2, 0, 31].item() == float(arrays["x_test"][1, 2 * 1024 + 31])
    # Batches are concatenated in order 1..5.
    assert ds.y_train.tolist() == arrays["y_train"].tolist()
    assert ds.y_test.tolist() == arrays["y_test"].tolist()
    assert ds.labels == [n.decode() for n in CIFAR10_NAMES]
    assert ds.input_spec.shape == (3, 32, 32) and ds.input_spec.pixel_max == 255.0
    assert ds.x_train.is_contiguous()


def test_cifar10_channel_order_is_rgb(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    x, y = random_batch(9, 3, 10)
    x[0, :1024], x[0, 1024:2048], x[0, 2048:] = 10, 20, 30
    dump(tmp_path / "test_batch", {b"data": x, b"labels": y})
    ds = load_dataset("cifar10", tmp_path)
    assert ds.x_test[0].amin(dim=(1, 2)).tolist() == [10.0, 20.0, 30.0]
    assert ds.x_test[0].amax(dim=(1, 2)).tolist() == [10.0, 20.0, 30.0]


def test_cifar10_found_in_archive_subdirectory(tmp_path: Path) -> None:
    arrays = write_cifar10(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", tmp_path)
    assert ds.y_test.tolist() == arrays["y_test"].tolist()


# Protocol 2 is left out: Python 3 writes protocol-2 bytes through _codecs.encode, a global the loader
# refuses; Python 2, which wrote the real files, used plain string opcodes (see py2_pickle below).
@pytest.mark.parametrize("protocol", [3, 5])
def test_cifar10_other_pickle_protocols(tmp_path: Path, protocol: int) -> None:
    arrays = write_cifar10(tmp_path, protocol=protocol)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.x_train[4, 1, 2, 3].item() == float(arrays["x_train"][4, 1024 + 2 * 32 + 3])


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    x_train, y_train = random_batch(1, 7, 100)
    x_test, y_test = random_batch(2, 4, 100)
    y_train[0] = 99
    fine = [f"class{i}".encode() for i in range(100)]
    coarse = [0] * 7
    dump(tmp_path / "train", {b"data": x_train, b"fine_labels": y_train, b"coarse_labels": coarse})
    dump(tmp_path / "test", {b"data": x_test, b"fine_labels": y_test, b"coarse_labels": coarse[:4]})
    dump(tmp_path / "meta", {b"fine_label_names": fine, b"coarse_label_names": [b"c"] * 20})

    ds = load_dataset("cifar100", tmp_path)
    assert ds.num_classes == 100 and ds.labels[99] == "class99"
    assert ds.y_train.tolist() == y_train and ds.y_test.tolist() == y_test
    assert ds.x_train.shape == (7, 3, 32, 32)
    assert ds.x_train[6, 2, 10, 20].item() == float(x_train[6, 2048 + 10 * 32 + 20])


def test_cifar100_found_in_archive_subdirectory(tmp_path: Path) -> None:
    sub = tmp_path / "cifar-100-python"
    sub.mkdir()
    x, y = random_batch(1, 3, 2)
    dump(sub / "train", {b"data": x, b"fine_labels": y})
    dump(sub / "test", {b"data": x, b"fine_labels": y})
    dump(sub / "meta", {b"fine_label_names": [b"a", b"b"]})
    assert load_dataset("cifar100", tmp_path).labels == ["a", "b"]


# --- the real files were written by Python 2's cPickle: str values are byte strings (BINSTRING opcodes).


def py2_pickle(obj: Any) -> bytes:
    """Encode dicts/lists/tuples/bytes/ints/None/bools/uint8 arrays the way Python 2 pickled CIFAR."""

    def enc(o: Any) -> bytes:
        if o is None:
            return b"N"
        if isinstance(o, bool):
            return b"\x88" if o else b"\x89"
        if isinstance(o, int):
            return b"K" + bytes([o]) if 0 <= o < 256 else b"J" + struct.pack("<i", o)
        if isinstance(o, bytes):
            return b"U" + bytes([len(o)]) + o if len(o) < 256 else b"T" + struct.pack("<i", len(o)) + o
        if isinstance(o, tuple):
            return b"(" + b"".join(enc(v) for v in o) + b"t"
        if isinstance(o, list):
            return b"](" + b"".join(enc(v) for v in o) + b"e"
        if isinstance(o, dict):
            return b"}(" + b"".join(enc(k) + enc(v) for k, v in o.items()) + b"u"
        if isinstance(o, np.ndarray):
            assert o.dtype == np.uint8
            # dtype("u1", 0, 1) then BUILD with its state; ndarray via _reconstruct then BUILD with
            # (version, shape, dtype, fortran_order, raw bytes), exactly as numpy 1.x under Python 2.
            dtype_state = enc((3, b"|", None, None, None, -1, -1, 0))
            dtype = b"cnumpy\ndtype\n" + enc((b"u1", 0, 1)) + b"R" + dtype_state + b"b"
            state = b"(" + enc(1) + enc(o.shape) + dtype + enc(False) + enc(o.tobytes()) + b"t"
            new_array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + enc((0,)) + enc(b"b")
            return new_array + b"\x87R" + state + b"b"
        raise TypeError(type(o))

    return b"\x80\x02" + enc(obj) + b"."


def test_python2_style_pickles_load(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    batches = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        x = rng.integers(0, 256, size=(2, 3072), dtype=np.uint8)
        batches[name] = x
        (tmp_path / name).write_bytes(py2_pickle({b"data": x, b"labels": [1, 9], b"batch_label": b"b"}))
    (tmp_path / "batches.meta").write_bytes(py2_pickle({b"label_names": CIFAR10_NAMES}))

    ds = load_dataset("cifar10", tmp_path)
    assert ds.x_train.shape == (10, 3, 32, 32)
    assert ds.x_train[9, 1, 0, 1].item() == float(batches["data_batch_5"][1, 1025])
    assert ds.y_test.tolist() == [1, 9]
    assert ds.labels[9] == "truck"


# --- hostile and broken files


class _RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


class _RunsPython:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload", [_RunsShell, _RunsPython])
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, payload: type) -> None:
    data_dir = tmp_path / "data"
    write_cifar10(data_dir)
    marker = tmp_path / "pwned"
    x, _ = random_batch(0, 2, 10)
    dump(data_dir / "data_batch_3", {b"data": x, b"labels": payload(marker)})

    with pytest.raises(InvalidInput) as info:
        load_dataset("cifar10", data_dir)
    assert "data_batch_3" in str(info.value)
    assert "refusing" in str(info.value)
    assert not marker.exists()


def test_the_payload_would_run_under_plain_pickle(tmp_path: Path) -> None:
    # Guards the test above: the hostile pickle must really execute when loaded unrestricted.
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_RunsPython(marker)))
    assert marker.exists()


def test_missing_cifar10_files_are_named(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    (tmp_path / "batches.meta").unlink()
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", tmp_path)
    message = str(info.value)
    assert "data_batch_4" in message and "batches.meta" in message
    assert "data_batch_1" not in message
    assert str(tmp_path) in message and "cifar-10-batches-py" in message


def test_missing_files_reported_for_the_closest_directory(tmp_path: Path) -> None:
    sub = tmp_path / "cifar-100-python"
    sub.mkdir()
    x, y = random_batch(1, 3, 2)
    dump(sub / "train", {b"data": x, b"fine_labels": y})
    dump(sub / "meta", {b"fine_label_names": [b"a", b"b"]})
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar100", tmp_path)
    assert f"missing test in {sub}" in str(info.value)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\x80\x04garbage", "not a valid dataset pickle"),
        (pickle.dumps([1, 2, 3]), "expected a pickled dict"),
        (pickle.dumps({b"labels": [0, 1]}), "missing key b'data'"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "(N, 3072)"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "2 images but 1 labels"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), "outside 0..9"),
    ],
)
def test_malformed_batches_are_invalid(tmp_path: Path, content: bytes, fragment: str) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(content)
    with pytest.raises(InvalidInput) as info:
        load_dataset("cifar10", tmp_path)
    assert fragment in str(info.value)
    assert "test_batch" in str(info.value)


def test_python3_str_keys_are_accepted(tmp_path: Path) -> None:
    arrays = write_cifar10(tmp_path)
    dump(tmp_path / "test_batch", {"data": arrays["x_test"], "labels": arrays["y_test"].tolist()})
    assert load_dataset("cifar10", tmp_path).y_test.tolist() == arrays["y_test"].tolist()
