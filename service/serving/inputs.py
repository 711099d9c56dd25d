"""What users send, decoded into the float32 batch (N, C, H, W) every graph takes.

Four doors, one set of rules:

    decode_json_body(body, spec, max_batch)              a JSON body {"inputs": [...]}, as bytes
    decode_tensor(values, spec, max_batch)               JSON nested lists (or a numpy array)
    decode_images(files, spec, max_batch)                PNG/JPEG/... bytes, one image per sample
    decode_flat(data, shape, datatype, spec, max_batch)  Open Inference Protocol tensors (JSON or binary)

Values are raw pixels on the dataset's own scale, 0..spec.pixel_max (digits 0..16, 8-bit images
0..255): normalisation is inside every ONNX graph, so a caller who normalises first gets wrong
answers silently. The range check below turns that mistake into an error that says so.
"""

from __future__ import annotations

import io
import json
import math
import numbers
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import ErrorCode, HubError
from service.moda.spec import InputSpec
from service.serving.datatypes import NUMPY_DTYPES, numpy_dtype
from service.serving.numeric_json import numeric_inputs

# 4096 x 4096: far beyond any model input here, far below what would exhaust memory. Checked on the
# header before decoding, so a tiny file claiming a huge canvas (a decompression bomb) costs nothing.
MAX_IMAGE_PIXELS = 4096 * 4096
_INTEGRAL_KINDS = frozenset("iu")
# A sample is at most (C, H, W): a batch has at most four dimensions.
MAX_DIMS = 4
# Pillow reports malformed input through many types: truncation is an OSError, broken headers raise
# SyntaxError, struct.error, ValueError or EOFError depending on the format plugin.
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)


def _invalid(message: str) -> HubError:
    return HubError(ErrorCode.INVALID_ARGUMENT, message)


def _layouts(spec: InputSpec) -> str:
    c, h, w = spec.shape
    accepted = [f"({c}, {h}, {w})"] + ([f"({h}, {w})"] if c == 1 else []) + [f"flat ({spec.numel},)"]
    return ", ".join(accepted[:-1]) + " or " + accepted[-1]


def _sample_shapes(spec: InputSpec) -> tuple[tuple[int, ...], ...]:
    c, h, w = spec.shape
    return (spec.shape, (spec.numel,)) + (((h, w),) if c == 1 else ())


def _check_count(n: int, max_batch: int, what: str = "samples") -> None:
    if n == 0:
        raise _invalid(f"the batch is empty: send at least one of the {what}")
    if n > max_batch:
        raise _invalid(f"the batch has {n} {what}; at most {max_batch} are accepted per request")


def _validate_batch(batch: np.ndarray, spec: InputSpec, max_batch: int) -> np.ndarray:
    """(N, *sample_shape) real numbers -> float32 (N, C, H, W), or INVALID_ARGUMENT naming the sample.

    The one place that decides what a valid batch is; every door ends here.
    """
    n = batch.shape[0] if batch.ndim else 0
    _check_count(n, max_batch)
    if batch.shape[1:] not in _sample_shapes(spec):
        raise _invalid(f"sample 0 has shape {batch.shape[1:]}; each sample must be shaped {_layouts(spec)}")
    flat = batch.reshape(n, -1)  # (N, C·H·W)
    # One pass each for the whole batch decides the common case; NaN makes both comparisons False.
    if flat.min() >= 0 and flat.max() <= spec.pixel_max:
        return np.ascontiguousarray(flat.reshape(n, *spec.shape), dtype=np.float32)
    finite = np.isfinite(flat).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite))
        raise _invalid(f"sample {first} contains NaN or infinity; pixels must be finite numbers")
    low, high = flat.min(axis=1), flat.max(axis=1)
    outside = (low < 0) | (high > spec.pixel_max)
    if outside.any():
        first = int(np.argmax(outside))
        raise _invalid(
            f"sample {first} has values in [{low[first]:g}, {high[first]:g}], outside "
            f"[0, {spec.pixel_max:g}]: inputs are raw pixels on the 0..{spec.pixel_max:g} scale, "
            "not normalised values"
        )
    return np.ascontiguousarray(flat.reshape(n, *spec.shape), dtype=np.float32)


def _is_real(kind: type) -> bool:
    # JSON gives int/float; numpy scalars are numbers.Real too. bool is an int to Python, not a pixel.
    return issubclass(kind, numbers.Real) and not issubclass(kind, bool | np.bool_)


def _numbers(values: Any) -> tuple[np.ndarray | None, str]:
    """Nested lists -> float64 array of their shape, or (None, why not).

    An object array first, so that bools, strings and None are seen for what they are rather than
    silently coerced ("1" -> 1.0, True -> 1.0) by a direct float conversion.
    """
    try:
        objects = np.array(values, dtype=object)
    except ValueError:  # numpy refuses some ragged nestings outright
        return None, "is ragged (rows of different lengths)"
    leaves = objects.ravel()
    kinds = set(map(type, leaves))
    if kinds <= {int, float} or all(_is_real(k) for k in kinds):
        try:
            return objects.astype(np.float64), ""
        except OverflowError:
            return None, "contains an integer too large to be a pixel value"
    if any(issubclass(k, list | tuple) for k in kinds):
        return None, "is ragged (rows of different lengths)"
    bad = next(v for v in leaves if not _is_real(type(v)))
    return None, f"contains {bad!r} ({type(bad).__name__}); pixels must be numbers"


def decode_tensor(values: Sequence[Any] | np.ndarray, spec: InputSpec, max_batch: int) -> np.ndarray:
    """A batch of samples -> float32 (N, C, H, W).

    Each sample is (C, H, W), (H, W) when C == 1, or flat C·H·W, and samples may mix layouts.
    """
    if isinstance(values, np.ndarray) and values.dtype == object:
        values = values.tolist()  # Python objects inside: check them one by one like JSON
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iuf":
            raise _invalid(f"the tensor has dtype {values.dtype}; pixels must be real numbers")
        if values.ndim == 0:
            raise _invalid(f"expected a batch (a list of samples shaped {_layouts(spec)}), got a scalar")
        return _validate_batch(values, spec, max_batch)
    if not isinstance(values, list | tuple):
        raise _invalid(f"expected a batch: a list of samples shaped {_layouts(spec)}, got {type(values).__name__}")
    _check_count(len(values), max_batch)
    samples = np.empty((len(values), *spec.shape), dtype=np.float64)  # (N, C, H, W)
    shapes = _sample_shapes(spec)
    for i, sample in enumerate(values):
        array, why = _numbers(sample)
        if array is None:
            raise _invalid(f"sample {i} {why}; each sample must be shaped {_layouts(spec)}")
        if array.shape not in shapes:
            raise _invalid(f"sample {i} has shape {array.shape}; each sample must be shaped {_layouts(spec)}")
        samples[i] = array.reshape(spec.shape)
    return _validate_batch(samples, spec, max_batch)


def parse_json(body: bytes) -> Any:
    """A JSON document, or INVALID_ARGUMENT saying why and where it does not parse.

    orjson first (several times faster); the standard library when orjson refuses, so that NaN and
    integers beyond 64 bits reach the pixel checks, and syntax errors are told with line and column.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:  # RecursionError: nested deeper than json can parse
        raise _invalid(f"the body is not valid JSON: {error}") from error


def check_value_count(json_text: bytes, spec: InputSpec, max_batch: int) -> None:
    """INVALID_ARGUMENT when JSON text holds more values than a full batch of `spec` samples.

    In JSON every value but the first follows a comma, so counting commas (at memchr speed) bounds
    what parsing would build, before a single Python object is made."""
    limit = max_batch * spec.numel
    if json_text.count(b",") > limit + 64:  # 64: room for the other members of the object
        raise _invalid(
            f"the body holds more than {limit} values: at most {max_batch} samples of {spec.numel} "
            "pixels are accepted per request"
        )


def decode_json_body(body: bytes, spec: InputSpec, max_batch: int) -> np.ndarray:
    """The body `{"inputs": [sample, ...]}` -> float32 (N, C, H, W).

    A body of numbers only in one layout (the common case) goes to numpy without Python objects
    (numeric_json, which checks the batch size on the body's brackets before it parses); anything
    else has its values counted before it is parsed (check_value_count), then takes decode_tensor's
    checks, which name the offending sample.
    """
    numbers = numeric_inputs(body, _sample_shapes(spec), max_batch)
    if numbers is not None:
        return _validate_batch(numbers, spec, max_batch)
    check_value_count(body, spec, max_batch)
    document = parse_json(body)
    if not isinstance(document, dict) or "inputs" not in document:
        raise _invalid('the JSON body must be {"inputs": [sample, ...]}')
    return decode_tensor(document["inputs"], spec, max_batch)


def decode_flat(
    data: bytes | memoryview | Sequence[Any],
    shape: Sequence[int],
    datatype: str,
    spec: InputSpec,
    max_batch: int,
) -> np.ndarray:
    """An Open Inference Protocol tensor -> float32 (N, C, H, W).

    `data` is the raw little-endian bytes of the binary extension or the JSON `data` (flat or nested,
    row-major); `shape` is [N, C, H, W], [N, C·H·W], or [N, H, W] when C == 1. Real datatypes other
    than FP32 are converted (see service.serving.datatypes).
    """
    dtype = numpy_dtype(datatype)
    if dtype is None:
        raise _invalid(
            f"datatype {datatype!r} is not supported; send one of {', '.join(NUMPY_DTYPES)} (FP32 preferred)"
        )
    if not 2 <= len(shape) <= MAX_DIMS or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        raise _invalid(
            f"shape {list(shape)[: MAX_DIMS + 1]}{'...' if len(shape) > MAX_DIMS + 1 else ''} must be "
            f"[batch, ...sample] of non-negative integers, the sample shaped {_layouts(spec)}"
        )
    _check_count(shape[0], max_batch)
    expected = math.prod(shape)
    if isinstance(data, bytes | bytearray | memoryview):
        if len(data) != expected * dtype.itemsize:
            raise _invalid(
                f"binary data has {len(data)} bytes; shape {list(shape)} of {datatype} needs "
                f"{expected} x {dtype.itemsize} = {expected * dtype.itemsize} bytes"
            )
        array = np.frombuffer(data, dtype=dtype)  # a view of the body: checked in place, copied at most once
    else:
        numbers, why = _numbers(data)
        if numbers is None:
            raise _invalid(f"data {why}")
        array = numbers
        if array.size != expected:
            raise _invalid(f"data has {array.size} elements; shape {list(shape)} needs {expected}")
        if dtype.kind in _INTEGRAL_KINDS and not np.array_equal(array, np.trunc(array), equal_nan=True):
            raise _invalid(f"data of datatype {datatype} must hold integers")
    return _validate_batch(array.reshape(shape), spec, max_batch)


def _open_image(name: str, content: bytes, mode: str, size: tuple[int, int]) -> Image.Image:
    image: Image.Image = Image.open(io.BytesIO(content))
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise HubError(
            ErrorCode.INVALID_IMAGE,
            f"image {name!r} is {width}x{height} pixels; at most {MAX_IMAGE_PIXELS} pixels are accepted",
        )
    image.draft(mode, size)  # JPEG only: decode at a reduced scale when the target is much smaller
    image = ImageOps.exif_transpose(image)  # phone photos store rotation in EXIF, not in the pixels
    return image.convert(mode)


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    # Shrinking: BOX averages each target pixel's area, which is how sklearn's digits were made
    # (counts of ink in 4x4 blocks) and never aliases. Enlarging: BOX would be blocky; BILINEAR is smooth.
    shrinking = image.size[0] >= size[0] and image.size[1] >= size[1]
    return image.resize(size, Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR)


def decode_images(files: Sequence[tuple[str, bytes]], spec: InputSpec, max_batch: int) -> np.ndarray:
    """(filename, bytes) of images Pillow can open -> float32 (N, C, H, W) on the 0..pixel_max scale.

    Each image becomes grayscale ("L") for one-channel models or "RGB" for three (alpha is dropped),
    is resized to the model's width x height ignoring aspect ratio, and 0..255 is rescaled to
    0..pixel_max. Pixels are used as given: no inversion, no centring. sklearn's digits are white
    strokes on black, so a black-on-white scan must be inverted by the caller.
    """
    if spec.channels not in (1, 3):
        raise _invalid(f"images can feed 1- or 3-channel models, not {spec.channels}-channel ones")
    _check_count(len(files), max_batch, what="images")
    mode = "L" if spec.channels == 1 else "RGB"
    size = (spec.width, spec.height)
    batch = np.empty((len(files), spec.height, spec.width, spec.channels), dtype=np.float64)  # (N, H, W, C)
    for i, (name, content) in enumerate(files):
        try:
            image = _resize(_open_image(name, content, mode, size), size)
            pixels = np.asarray(image, dtype=np.float64)
        except UnidentifiedImageError as exc:  # its own message names a BytesIO object: useless to users
            raise HubError(
                ErrorCode.INVALID_IMAGE, f"file {name!r} is not a readable image: no known image format"
            ) from exc
        except _PILLOW_ERRORS as exc:
            raise HubError(ErrorCode.INVALID_IMAGE, f"file {name!r} is not a readable image: {exc}") from exc
        batch[i] = pixels.reshape(spec.height, spec.width, spec.channels)
    batch = batch.transpose(0, 3, 1, 2) / 255.0 * spec.pixel_max  # (N, C, H, W)
    return np.ascontiguousarray(batch, dtype=np.float32)
