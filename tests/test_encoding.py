"""Encoding detection and the line accounting done in the same pass."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
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


SCANNED = {
    "crlf and empty lines": b"a,b\r\n\r\n1,2\r\n" + b"x" * 40 + b"\r\n\n3,4",
    "a bare CR inside": b"a,b\n1,\r2\n3,4\n" + b"y" * 33 + b"\n",
    "CR line ends": b"a,b\r1,2\r\r" + b"z" * 50 + b"\r5,6\r",
    "long lines": b"h\n" + b"q" * 30 + b"\n\n" + b"w" * 31 + b"\n" + b"e" * 29,
    "utf-8 text": ("名称,备注\n张伟,好\n\n李娜," + "长" * 20 + "\n").encode(),
}


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 16, 64])
@pytest.mark.parametrize("name", sorted(SCANNED))
def test_a_scan_in_chunks_finds_what_one_chunk_finds(
    tmp_path: Path, monkeypatch, name: str, chunk: int
) -> None:
    # a file of several chunks has its line feeds found in threads, chunks in flight
    path = tmp_path / "x.csv"
    path.write_bytes(SCANNED[name])
    whole = scan_text_file(path, max_line_bytes=30)
    monkeypatch.setattr(encoding, "CHUNK", chunk)

    scan = scan_text_file(path, max_line_bytes=30)

    assert (scan.encoding, scan.n_lines, scan.cr_newlines, scan.bare_cr) == (
        whole.encoding,
        whole.n_lines,
        whole.cr_newlines,
        whole.bare_cr,
    )
    assert scan.empty_lines.tolist() == whole.empty_lines.tolist()
    assert scan.long_lines.tolist() == whole.long_lines.tolist()
    assert scan.long_spans.tolist() == whole.long_spans.tolist()
    assert whole.long_lines.size or name not in ("long lines", "CR line ends")


def _counting_scans(monkeypatch) -> list[Path]:
    scanned: list[Path] = []
    real = encoding._scan

    def scan(path: Path, *args: object) -> encoding.TextScan:
        scanned.append(path)
        return real(path, *args)

    monkeypatch.setattr(encoding, "_scan", scan)
    return scanned


def test_a_scan_begun_ahead_is_taken_over_not_done_again(tmp_path: Path, monkeypatch) -> None:
    scanned = _counting_scans(monkeypatch)
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n\n1,2\n" + b"x" * 50 + b"\n")
    encoding.scan_ahead([path], max_line_bytes=30)

    scan = scan_text_file(path, max_line_bytes=30)

    assert scanned == [path]
    assert (scan.n_lines, scan.empty_lines.tolist(), scan.long_lines.tolist()) == (4, [2], [4])
    scan_text_file(path, max_line_bytes=30)  # taken once: a second read scans again
    assert scanned == [path, path]


def test_a_scan_ahead_with_other_arguments_or_of_a_changed_file_is_not_taken(
    tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n")
    encoding.scan_ahead([path], max_line_bytes=30)
    assert scan_text_file(path, "gb18030", max_line_bytes=30).encoding == "gb18030"

    encoding.scan_ahead([path], max_line_bytes=30)
    encoding._AHEAD._scans[next(iter(encoding._AHEAD._scans))].result()  # scanned first
    path.write_bytes(b"a,b\n1,2\n\n3,4\n")  # then changed

    scan = scan_text_file(path, max_line_bytes=30)

    assert (scan.n_lines, scan.empty_lines.tolist()) == (4, [3])
    encoding.cancel_scans_ahead()


def test_the_error_of_a_scan_ahead_is_raised_by_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n3,\xff\xff\n")
    encoding.scan_ahead([path])

    with pytest.raises(DataError, match=r"x\.csv:3: cannot decode byte ff ff at offset 10"):
        scan_text_file(path)


def test_cancelled_scans_ahead_are_not_run(tmp_path: Path, monkeypatch) -> None:
    scanned = _counting_scans(monkeypatch)
    counted, started, gate = encoding._scan, threading.Event(), threading.Event()

    def held(path: Path, *args: object) -> encoding.TextScan:
        if path == paths[0]:  # under way until the others are cancelled
            started.set()
            gate.wait(10)
        return counted(path, *args)

    monkeypatch.setattr(encoding, "_scan", held)
    paths = [tmp_path / f"{i}.csv" for i in range(3)]
    for path in paths:
        path.write_bytes(b"a\n1\n")
    encoding.scan_ahead(paths)
    assert started.wait(10)
    encoding.cancel_scans_ahead()
    gate.set()

    assert scan_text_file(paths[2]).n_lines == 2
    assert encoding._AHEAD._pool is not None
    encoding._AHEAD._pool.submit(lambda: None).result()  # what was under way has ended
    assert sorted(scanned) == [paths[0], paths[2]]  # not the cancelled paths[1]


def _lines_by_hand(data: bytes, limit: int | None) -> dict[str, object]:
    """What a scan of ``data`` (lines ending with LF) must find, line by line."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the file ends with a line feed: no line after it
    empty, long, spans, start = [], [], [], 0
    for number, line in enumerate(lines, start=1):
        end = min(start + len(line) + 1, len(data))  # its line feed included
        if line in (b"", b"\r"):
            empty.append(number)
        if limit is not None and end - start > limit:
            long.append(number)
            spans.append([start, end])
        start = end
    return {
        "n_lines": len(lines),
        "empty": empty,
        "long": long,
        "spans": spans,
        "bare_cr": data.replace(b"\r\n", b"").count(b"\r") > 0,
    }


@pytest.mark.parametrize("seed", range(12))
def test_line_accounting_matches_the_lines_counted_by_hand(
    tmp_path: Path, monkeypatch, seed: int
) -> None:
    # long runs without a line feed, empty lines, CRLF, lone and bare CRs, at random;
    # chunks small enough that most lines cross a chunk boundary or fill a chunk
    rng = np.random.default_rng(seed)
    pieces = [b"h,i\n"]
    for _ in range(int(rng.integers(20, 200))):
        kind = rng.choice(5, p=[0.6, 0.15, 0.12, 0.08, 0.05])
        run = b"x" * int(rng.integers(0, 3) if rng.random() < 0.5 else rng.integers(3, 90))
        pieces.append([run + b"\n", b"\n", run + b"\r\n", b"\r\n", run + b"\r"][kind])
    data = b"".join(pieces)
    if rng.random() < 0.5:
        data += b"tail"  # a last line without a line feed
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    for limit in (None, 4, 31, 200):
        expected = _lines_by_hand(data, limit)
        for chunk in (1, 7, 50, 333, 1 << 22):
            monkeypatch.setattr(encoding, "CHUNK", chunk)
            scan = scan_text_file(path, max_line_bytes=limit)
            found = {
                "n_lines": scan.n_lines,
                "empty": scan.empty_lines.tolist(),
                "long": scan.long_lines.tolist(),
                "spans": scan.long_spans.tolist(),
                "bare_cr": scan.bare_cr,
            }
            assert found == expected, (limit, chunk)


@pytest.mark.parametrize(
    "data",
    [
        b"a,b\n1,\xe5\n2,3\n4,5\n",  # a character cut short, ASCII after it: not UTF-8
        "a,b\n1,张\n2,3\n4,5\n".encode(),  # a character across a chunk boundary
        b"a,b\n1,2\n3,4\n" + "5,张伟\n".encode("gbk"),  # ASCII chunks, then GBK
        b"a,b\n1,2\n3,4\n5,\xff\xff\n",  # ASCII chunks, then bytes of no encoding
    ],
)
@pytest.mark.parametrize("chunk", [1, 2, 3, 6, 7])
def test_the_encoding_found_does_not_depend_on_where_chunks_end(
    tmp_path: Path, monkeypatch, data: bytes, chunk: int
) -> None:
    # chunks of ASCII alone are not decoded: what follows them must still be checked
    path = tmp_path / "x.csv"
    path.write_bytes(data)

    def verdict() -> str:
        try:
            return scan_text_file(path).encoding
        except DataError as exc:
            return str(exc)

    whole = verdict()
    monkeypatch.setattr(encoding, "CHUNK", chunk)
    assert verdict() == whole


_TRADITIONAL = "客戶編號,客戶名稱,聯絡電話,所屬區域,授信額度\n" + "".join(
    f"C{i:04d},陳大文,0912345678,臺北市,{100000 + i}\n" for i in range(40)
)


def test_big5_is_not_read_as_gbk_into_the_wrong_characters(tmp_path: Path) -> None:
    """Every Big5 byte pair is a GBK character too: a Traditional Chinese export was
    detected as GBK and read without an error into other characters (客戶編號 as
    め絪腹). It is refused, saying --encoding big5; given, it reads right."""
    from custrisk.io.readers import read_raw

    path = tmp_path / "t.csv"
    path.write_bytes(_TRADITIONAL.encode("big5"))
    with pytest.raises(DataError, match=r"looks like Big5 .*pass --encoding big5"):
        scan_text_file(path)
    raw = read_raw(path, encoding="big5")
    assert raw.header[0] == "客戶編號" and raw.table.column("所屬區域")[0].as_py() == "臺北市"
    assert scan_text_file(path, "gb18030").encoding == "gb18030"  # the user's word is taken


@pytest.mark.parametrize(
    "text",
    [_TRADITIONAL, "客户编号,客户名称,所属区域\n" + "C0001,张伟,华东\n" * 40],
    ids=["traditional characters in GBK", "simplified"],
)
def test_gbk_text_is_still_detected_as_gbk(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("gbk"))
    assert scan_text_file(path).encoding == "gb18030"
