"""Encoding detection and the line accounting done in the same pass."""

from __future__ import annotations

from pathlib import Path

import pytest

import custrisk.io.encoding as encoding
from custrisk.errors import DataError
from custrisk.io.encoding import scan_text_file


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_empty_lines_are_found_across_chunk_boundaries(
    tmp_path: Path, monkeypatch, chunk: int
) -> None:
    monkeypatch.setattr(encoding, "CHUNK", chunk)
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n\n1,2\r\n\r\n3,4\n\n\nxy\n5,6")
    scan = scan_text_file(path)
    assert scan.empty_lines.tolist() == [2, 4, 6, 7]
    assert scan.n_lines == 9


@pytest.mark.parametrize(
    "data,expected",
    [
        ("客户编号,名称\n1,张伟\n".encode(), "utf-8"),
        ("客户编号,名称\n1,张伟\n".encode("gbk"), "gb18030"),
        ("客户编号,名称\n1,䶮\n".encode("gb18030"), "gb18030"),
        (b"\xef\xbb\xbf" + "a\n张\n".encode(), "utf-8-sig"),
        ("a\n张\n".encode("utf-16"), "utf-16"),
        (b"a,b\n1,2\n", "utf-8"),
    ],
)
def test_detection(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    assert scan_text_file(path).encoding == expected


def test_undecodable_names_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n3,\xff\xff\n")
    with pytest.raises(
        DataError,
        match=r"x\.csv:3: cannot decode byte ff ff at offset 10: the "
        r"file is neither UTF-8 nor GBK/GB18030; .*--encoding",
    ):
        scan_text_file(path)
