"""decode_images: real PNG/JPEG bytes -> mode, size and 0..pixel_max scale of the model; bad files named."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.errors import ErrorCode, HubError
from service.moda.spec import InputSpec
from service.serving.inputs import MAX_IMAGE_PIXELS, decode_images
from tests.serving.helpers import DIGITS, RGB

GRAY_255 = InputSpec(1, 8, 4, mean=(0.0,), std=(1.0,), pixel_max=255.0)  # height 8, width 4


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_a_white_png_is_all_pixel_max_on_the_digits_scale() -> None:
    got = decode_images([("white.png", encode(Image.new("L", (8, 8), 255)))], DIGITS, max_batch=1)
    assert got.shape == (1, 1, 8, 8) and got.dtype == np.float32
    assert (got == 16.0).all()


def test_gray_levels_are_rescaled_from_255_to_pixel_max() -> None:
    levels = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4  # 0, 4, ..., 252
    got = decode_images([("ramp.png", encode(Image.fromarray(levels)))], DIGITS, max_batch=1)
    np.testing.assert_allclose(got[0, 0], levels / 255 * 16, rtol=1e-6)


def test_rgb_keeps_channel_order_and_size_orientation() -> None:
    red = Image.new("RGB", (RGB.width, RGB.height), (200, 10, 0))
    got = decode_images([("red.png", encode(red))], RGB, max_batch=1)
    assert got.shape == (1, 3, 4, 5)  # (N, C, H, W) with H=4, W=5
    np.testing.assert_array_equal(got[0, :, 0, 0], [200.0, 10.0, 0.0])
    assert (got[0, 0] == 200.0).all()


def test_grayscale_feeds_rgb_models_and_rgb_feeds_grayscale_models() -> None:
    gray = Image.new("L", (RGB.width, RGB.height), 90)
    got = decode_images([("gray.png", encode(gray))], RGB, max_batch=1)
    assert (got == 90.0).all()

    red = Image.new("RGB", (8, 8), (255, 0, 0))  # ITU-R 601 luma: 0.299 * 255 -> 76
    got = decode_images([("red.png", encode(red))], DIGITS, max_batch=1)
    np.testing.assert_allclose(got, 76 / 255 * 16, rtol=1e-6)


def test_alpha_is_dropped() -> None:
    rgba = Image.new("RGBA", (RGB.width, RGB.height), (10, 20, 30, 0))
    got = decode_images([("clear.png", encode(rgba))], RGB, max_batch=1)
    np.testing.assert_array_equal(got[0, :, 1, 1], [10.0, 20.0, 30.0])


def test_shrinking_averages_blocks_with_width_and_height_in_place() -> None:
    # 16 wide x 32 high, each 4x4 block one level: shrinking to 4 x 8 must give the levels exactly.
    levels = (np.arange(32, dtype=np.uint8).reshape(8, 4) * 8).astype(np.uint8)  # (H=8, W=4)
    big = np.kron(levels, np.ones((4, 4), dtype=np.uint8))  # (32, 16)
    got = decode_images([("blocks.png", encode(Image.fromarray(big)))], GRAY_255, max_batch=1)
    assert got.shape == (1, 1, 8, 4)
    np.testing.assert_array_equal(got[0, 0], levels)


def test_small_images_are_enlarged() -> None:
    got = decode_images([("tiny.png", encode(Image.new("L", (2, 2), 51)))], DIGITS, max_batch=1)
    assert got.shape == (1, 1, 8, 8)
    np.testing.assert_allclose(got, 51 / 255 * 16, rtol=1e-6)


def test_jpeg_grayscale_and_rgb_in_one_batch() -> None:
    files = [
        ("gray.jpg", encode(Image.new("L", (8, 8), 128), "JPEG", quality=95)),
        ("rgb.jpg", encode(Image.new("RGB", (64, 64), (128, 128, 128)), "JPEG", quality=95)),
    ]
    got = decode_images(files, DIGITS, max_batch=2)
    assert got.shape == (2, 1, 8, 8)
    np.testing.assert_allclose(got, 128 / 255 * 16, atol=16 / 255)  # JPEG may move a level by one


def test_exif_orientation_is_applied() -> None:
    # Stored 8 wide x 4 high, left half white; orientation 6 means "rotate 90° clockwise to view",
    # which puts the white half on top of a 4 wide x 8 high picture.
    stored = np.zeros((4, 8), dtype=np.uint8)
    stored[:, :4] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.fromarray(stored), exif=exif)
    got = decode_images([("phone.png", data)], GRAY_255, max_batch=1)[0, 0]  # (8, 4)
    assert (got[:4] == 255).all() and (got[4:] == 0).all()


def _truncated_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    data = encode(Image.fromarray(noise))
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("notes.txt", b"these are not pixels\n", "no known image format"),
        ("half.png", _truncated_png(), "truncated"),
        ("empty.png", b"", "no known image format"),
        ("huge.png", encode(Image.new("L", (5000, 5000))), f"at most {MAX_IMAGE_PIXELS} pixels"),
    ],
)
def test_bad_files_are_invalid_images_named_in_the_message(name: str, data: bytes, fragment: str) -> None:
    ok = ("ok.png", encode(Image.new("L", (8, 8))))
    with pytest.raises(HubError) as info:
        decode_images([ok, (name, data)], DIGITS, max_batch=2)
    assert info.value.code is ErrorCode.INVALID_IMAGE
    assert repr(name) in info.value.message and fragment in info.value.message


def test_batch_size_and_channel_limits() -> None:
    png = encode(Image.new("L", (8, 8)))
    with pytest.raises(HubError) as info:
        decode_images([], DIGITS, max_batch=2)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT and "empty" in info.value.message
    with pytest.raises(HubError) as info:
        decode_images([("a.png", png)] * 3, DIGITS, max_batch=2)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT and "3 images" in info.value.message
    two_channels = InputSpec(2, 8, 8, mean=(0.0, 0.0), std=(1.0, 1.0), pixel_max=255.0)
    with pytest.raises(HubError) as info:
        decode_images([("a.png", png)], two_channels, max_batch=2)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT and "2-channel" in info.value.message
