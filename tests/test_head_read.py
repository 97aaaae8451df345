"""Looking at an export's first rows reads those rows, not the whole file: ``init`` and a
flat table's layout sample 20,000 rows of each export, and a million-customer folder
took 12 s and 3.8 GB to propose its config when every file was read whole twice."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custrisk.data.infer import infer_table
from custrisk.data.propose import propose_sources
from custrisk.errors import DataError
from custrisk.io.encoding import head_bytes, scan_text_file
from custrisk.io.readers import read_raw

HEADER = "客户编号,姓名,月收入,备注"


def _rows(n: int, start: int = 0) -> list[str]:
    return [f"{i:08d},张{i % 7},{3000 + i % 500},第{i}行" for i in range(start, start + n)]


def _write(path: Path, lines: list[str], encoding: str = "utf-8", tail: bytes = b"") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding) + tail)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_the_head_holds_the_first_rows_and_nothing_after_them_is_read(
    tmp_path: Path, encoding: str
) -> None:
    # a byte that decodes in neither encoding far after the head: the whole file is
    # refused, its head is read
    tail = b"99999999,\xff\xfe,1,x\n"
    path = _write(tmp_path / "a.csv", [HEADER, *_rows(30_000)], encoding, tail)
    with pytest.raises(DataError, match="cannot decode"):
        read_raw(path, encoding=encoding)
    raw = read_raw(path, encoding=encoding, max_rows=500)
    assert raw.num_rows == 500
    assert raw.table.column("客户编号").to_pylist() == [f"{i:08d}" for i in range(500)]
    assert raw.table.column("备注").to_pylist()[-1] == "第499行"  # whole characters
    assert raw.lines.tolist() == list(range(2, 502))
    assert raw.bad_rows == []


def test_a_file_with_no_more_rows_than_asked_is_read_whole(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", [HEADER, *_rows(40)])
    assert head_bytes(path, 41) is None  # the header and every row: the whole file
    assert head_bytes(path, 100) is None
    assert head_bytes(path, 40) == len(b"\n".join(path.read_bytes().split(b"\n")[:40])) + 1
    for asked in (40, 41, 1_000):
        assert read_raw(path, max_rows=asked).num_rows == 40
    unterminated = tmp_path / "b.csv"
    unterminated.write_bytes(path.read_bytes()[:-1])  # no final line end
    raw = read_raw(unterminated, max_rows=40)
    assert raw.num_rows == 40 and raw.table.column("备注").to_pylist()[-1] == "第39行"


def test_bad_lines_in_the_head_are_reported_with_their_lines(tmp_path: Path) -> None:
    rows = _rows(3_000)
    rows[9] = '00000009,"张,3000,第9行'  # a quote left open
    rows[19] = "00000019,张"  # too few fields
    path = _write(tmp_path / "a.csv", [HEADER, *rows])
    raw = read_raw(path, max_rows=100)
    assert [(b.line, b.rule) for b in raw.bad_rows] == [(11, "unclosed_quote"), (21, "field_count")]
    assert raw.num_rows == 100
    assert raw.lines.tolist()[:11] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]


def test_a_value_spanning_lines_across_the_head_does_not_break_the_rows_before(
    tmp_path: Path,
) -> None:
    rows = _rows(1_000)
    # the head of 100 rows is the first 201 lines: it ends inside this value
    rows[199] = '00000199,张,3000,"第一行\n第二行\n第三行"'
    path = _write(tmp_path / "a.csv", [HEADER, *rows])
    raw = read_raw(path, multiline_columns=["备注"], max_rows=100)
    assert raw.num_rows == 100 and raw.bad_rows == []
    assert raw.table.column("客户编号").to_pylist() == [f"{i:08d}" for i in range(100)]
    # asked for the row whose value spans lines: read in full
    raw = read_raw(path, multiline_columns=["备注"], max_rows=200)
    assert raw.table.column("备注").to_pylist()[-1] == "第一行\n第二行\n第三行"
    assert raw.lines.tolist()[-1] == 201


def test_a_head_scan_is_marked_and_a_whole_scan_is_not(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", [HEADER, *_rows(5_000)])
    head = scan_text_file(path, max_lines=100)
    assert head.limit is not None and head.n_lines == 100
    whole = scan_text_file(path)
    assert whole.limit is None and whole.n_lines == 5_001
    utf16 = tmp_path / "u.csv"
    utf16.write_bytes(("\n".join([HEADER, *_rows(500)]) + "\n").encode("utf-16"))
    assert scan_text_file(utf16, max_lines=10).limit is None  # read whole
    assert read_raw(utf16, max_rows=10).num_rows == 10


def test_a_parquet_head_is_its_first_rows_across_row_groups(tmp_path: Path) -> None:
    ids = [f"{i:08d}" for i in range(10_000)]
    table = pa.table({"customer_id": ids, "channel": ["online", "branch"] * 5_000})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=700)
    raw = read_raw(
        path, columns={"customer_id": "customer_id", "channel": "channel"}, max_rows=2_000
    )
    assert raw.table.column("customer_id").to_pylist() == ids[:2_000]
    assert raw.lines.tolist() == list(range(1, 2_001))
    assert read_raw(path, max_rows=20_000).num_rows == 10_000
    pq.write_table(table.slice(0, 0), path)  # a file of no rows
    assert read_raw(path, max_rows=100).table.column_names == ["customer_id", "channel"]


def test_a_layout_and_a_proposal_from_the_head_are_those_of_a_whole_read(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    credit = ["customer_id,credit_limit,annual_income,education"]
    credit += [f"{i:08d},{5000 + i},{60000 + i},bachelor" for i in range(3_000)]
    _write(folder / "credit.csv", credit, tail=b"x" * 10 + b"\xff\n")  # broken past the head
    table = _write(tmp_path / "apps.csv", [HEADER, *_rows(3_000)], tail=b"\xff\n")

    layout = infer_table(table, sample_rows=1_000)
    assert layout.rows == 1_000 and layout.id_column == "客户编号"
    proposal = propose_sources(folder, sample_rows=1_000)
    assert [f.source for f in proposal.files] == ["credit"]
    # a whole read of the same rows proposes the same
    clean = tmp_path / "clean"
    clean.mkdir()
    _write(clean / "credit.csv", credit[:1_001])
    assert propose_sources(clean, sample_rows=1_000).files == proposal.files


def test_an_encrypted_exports_head_is_decrypted_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the head of an encrypted CSV is decrypted and copied to look at (init read
    the whole plaintext into a temporary file for its 20,000 rows): a bad byte past it
    is not reached, and the rows are those of the plain file's head."""
    from custrisk.data.exports import read_export
    from custrisk.protect import add_key, encrypt_file, load_keyring, new_key

    keyfile = tmp_path / "keys.json"
    add_key(keyfile, new_key("encryption"))
    monkeypatch.setenv("CUSTRISK_KEYFILE", str(keyfile))
    monkeypatch.delenv("CUSTRISK_KEY", raising=False)
    plain = _write(tmp_path / "a.csv", [HEADER, *_rows(5_000)], tail=b"1,\xff\n")
    sealed = tmp_path / "sealed" / "a.csv.enc"
    sealed.parent.mkdir()
    encrypt_file(plain, sealed, key=load_keyring(keyfile).active())
    import custrisk.data.exports as exports

    copies: list[int] = []  # the bytes of clear text each read put on disk
    opened = exports.plaintext_file

    @contextlib.contextmanager
    def watched(path: Path, **options: Any) -> Iterator[Path]:
        with opened(path, **options) as copy:
            copies.append(copy.stat().st_size)
            yield copy

    monkeypatch.setattr(exports, "plaintext_file", watched)
    with pytest.raises(DataError, match="cannot decode"):
        read_export(sealed)
    head = read_export(sealed, max_rows=300)
    assert head.path == sealed and head.num_rows == 300
    assert head.table.equals(read_raw(plain, max_rows=300).table)
    lines = plain.read_bytes().split(b"\n")
    assert copies == [plain.stat().st_size, len(b"\n".join(lines[:601])) + 1]
