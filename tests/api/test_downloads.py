"""Download headers: any label (the user's text) makes a safe, exact attachment name."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from service.api.downloads import content_disposition


@pytest.mark.parametrize("label", ["零", 'a"b', "c\r\nX: y", "d;filename=evil.sh", "plain"])
def test_any_label_gives_one_well_formed_header(label: str) -> None:
    name = f"module-{label}-0123.onnx"
    header = content_disposition(name)
    header.encode("latin-1")  # what an HTTP header must be; a raw 零 made the server fail (500)
    match = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+)', header)
    assert match is not None, header
    assert unquote(match.group(2)) == name  # the exact name survives for clients that read filename*
