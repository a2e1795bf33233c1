"""Requests for the handler tests: images in every accepted form, and unreadable ones.

Each case is one request made of (field, body, content type) parts, as a
multipart form sends them. A single part named "body" is a plain request body.
"""

import base64
import io
import json
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import tifffile
from PIL import Image


@dataclass(frozen=True)
class Case:
    name: str
    parts: list
    status: int
    message: str = ""  # part of the error message of a 4xx response
    same_as: str | None = None  # a case whose class scores this one's must equal
    images: int = 1  # predictions in the response; a list when more than one


def encode(image, image_format, **options):
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width, height):
    """Return a small PNG file whose header declares width x height RGB pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


def body(data, content_type="application/octet-stream"):
    return [("body", data, content_type)]


def json_body(document):
    return body(json.dumps(document).encode(), "application/json")


def build_cases(size, max_body_bytes):
    """Return the cases for a model whose input is size x size pixels."""
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (size, size), dtype=np.uint8)
    alpha = rng.integers(0, 256, (size, size, 1), dtype=np.uint8)
    palette = Image.fromarray(rgb).quantize(64)
    png = encode(rgb, "PNG")
    jpeg = encode(rgb, "JPEG", quality=90)
    wrong_size = encode(rng.integers(0, 256, (size + 1, size, 3), dtype=np.uint8), "PNG")
    return [
        Case("png", body(png), 200),
        Case("png-as-image-type", body(png, "image/png"), 200, same_as="png"),
        Case("jpeg", body(jpeg, "image/jpeg"), 200),
        Case("tiff", body(encode(rgb, "TIFF")), 200, same_as="png"),
        Case("webp-lossless", body(encode(rgb, "WEBP", lossless=True)), 200, same_as="png"),
        Case(
            "rgba-png",
            body(encode(np.concatenate([rgb, alpha], axis=2), "PNG")),
            200,
            same_as="png",
        ),
        Case("palette-png", body(encode(palette, "PNG")), 200, same_as="palette-as-rgb"),
        Case("palette-as-rgb", body(encode(palette.convert("RGB"), "PNG")), 200),
        Case("grey-png", body(encode(grey, "PNG")), 200),
        Case("grey-jpeg", body(encode(grey, "JPEG")), 200),
        Case(
            "grey16-png", body(encode(grey.astype(np.uint16) * 257, "PNG")), 200, same_as="grey-png"
        ),
        Case(
            "grey16-tiff",
            body(tifffile_bytes(grey.astype(np.uint16) * 257)),
            200,
            same_as="grey-png",
        ),
        Case(
            "base64-json", json_body({"data": base64.b64encode(png).decode()}), 200, same_as="png"
        ),
        Case(
            "base64-json-list",
            json_body({"data": [base64.b64encode(png).decode()] * 2}),
            200,
            images=2,
        ),
        Case(
            "multipart-two-fields",
            [("first", png, "image/png"), ("second", jpeg, "image/jpeg")],
            200,
            images=2,
        ),
        Case("empty", body(b""), 400, "empty"),
        Case(
            "text-file",
            body(b"patient notes\n", "text/plain"),
            415,
            "body is text, expected image bytes",
        ),
        Case("text-as-bytes", body(b"patient notes\n"), 415, "not a PNG, JPEG, TIFF or WebP"),
        Case("gif", body(encode(rgb, "GIF")), 415, "not a PNG, JPEG, TIFF or WebP"),
        Case("jpeg-cut-in-half", body(jpeg[: len(jpeg) // 2]), 400, "truncated or corrupt JPEG"),
        Case("png-cut-in-half", body(png[: len(png) // 2]), 400, "truncated or corrupt PNG"),
        Case(
            "png-declaring-20000-px",
            body(png_declaring(20000, 20000)),
            400,
            f"expected {size} x {size} px",
        ),
        Case(
            "png-declaring-wide",
            body(png_declaring(5000, size)),
            400,
            f"is 5000 x {size} px, expected",
        ),
        Case("wrong-size", body(wrong_size), 400, f"is {size} x {size + 1} px, expected"),
        Case(
            "two-page-tiff",
            body(
                encode(
                    Image.fromarray(rgb),
                    "TIFF",
                    save_all=True,
                    append_images=[Image.fromarray(rgb)],
                )
            ),
            400,
            "has 2 frames or pages",
        ),
        Case("float-tiff", body(tifffile_bytes(rgb[..., 0].astype(np.float32))), 400, "32-bit"),
        Case(
            "truncated-json-bad-utf8",
            body(b'{"data": "iVBORw0K\xff', "application/json"),
            400,
            "labelled application/json but is not valid UTF-8 JSON",
        ),
        Case("png-labelled-json", body(png, "application/json"), 400, "labelled application/json"),
        Case("json-without-data", json_body({"image": "x"}), 400, "'data' field"),
        Case("json-bad-base64", json_body({"data": "not base64!"}), 400, "not valid base64"),
        Case(
            "multipart-one-bad-field",
            [("first", png, "image/png"), ("second", b"x", "image/png")],
            415,
            "second is not a PNG",
        ),
        Case(
            "too-many-bytes", body(b"\0" * (max_body_bytes + 1)), 413, f"at most {max_body_bytes}"
        ),
    ]


def tifffile_bytes(array):
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()
