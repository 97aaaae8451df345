"""What a file named as a workbook is when it does not open as one.

An analyst's "Excel file" is often something else: a workbook protected with a password
(an encrypted package inside an OLE file, not a zip), an old ``.xls`` saved under the
name ``.xlsx`` or the other way round, a web system's HTML table or an Excel 2003 XML
sheet under ``.xls``, a CSV renamed, or a copy cut short. The reader's own error
("File is not a zip file", "Invalid OLE signature") names none of them; this module
looks at the file's first bytes, only once opening it has failed, to say which it is and
what to do.
"""

from __future__ import annotations

from pathlib import Path

#: The first bytes of an OLE compound file (.xls, and a password-protected .xlsx).
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGIC = b"PK\x03\x04"
#: The stream an encrypted OOXML workbook (a password to open it) keeps its zip in.
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
_HEAD = 4096
_SCAN_LIMIT = 64 << 20  # an OLE directory sits in the file; read no more than this for it
_CHUNK = 1 << 20


def not_a_workbook(path: Path) -> tuple[str, str] | None:
    """``(what the file is, how to fix it)`` for a file that did not open as a workbook,
    or ``None`` when its bytes say nothing more than the reader's error."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD)
    except OSError:
        return None
    suffix = path.suffix.lower()
    if not head:
        return "the file is empty (0 bytes)", "export or copy it again"
    if head.startswith(OLE_MAGIC):
        if _holds(path, _ENCRYPTED):
            return (
                "the workbook is protected with a password (encrypted), and custrisk "
                "does not open protected workbooks",
                "open it in Excel, remove the password (File > Info > Protect Workbook > "
                "Encrypt with Password, clear it; 文件 > 信息 > 保护工作簿 > 用密码进行加密) "
                "and save it, or export the sheet as CSV",
            )
        if suffix != ".xls":
            return (
                f"it is an Excel 97-2003 workbook (.xls) under the name {suffix}",
                "rename it to .xls, or open it in Excel and save it as .xlsx",
            )
        return None
    if head.startswith(ZIP_MAGIC):
        if suffix == ".xls":
            return (
                "it is an .xlsx workbook (a zip archive) under the name .xls",
                "rename it to .xlsx",
            )
        return None
    text = head.lstrip(b"\xef\xbb\xbf\xff\xfe\xfe\xff \t\r\n").lower()
    if text.startswith(b"<"):
        if b"urn:schemas-microsoft-com:office:spreadsheet" in head.lower():
            what = "an Excel 2003 XML spreadsheet, not a workbook custrisk reads"
        else:
            what = "a web page (HTML), as some systems' Excel export writes, not a workbook"
        return (
            f"the file is {what}",
            "open it in Excel and save it as an Excel workbook (.xlsx), or export CSV",
        )
    if b"\x00" not in head and _decodes(head):
        return (
            "the file is text (a CSV or tab-separated export?) under an Excel name",
            "rename it to .csv (custrisk reads CSV as it is), or save it as .xlsx in Excel",
        )
    return None


def _decodes(head: bytes) -> bool:
    """Whether the bytes read as UTF-8 or GB18030 text (a cut character at the end
    aside)."""
    for encoding in ("utf-8", "gb18030"):
        try:
            head[:-4].decode(encoding)
        except UnicodeDecodeError:
            continue
        return True
    return False


def _holds(path: Path, needle: bytes) -> bool:
    """Whether the first :data:`_SCAN_LIMIT` bytes of the file hold ``needle``."""
    carry = b""
    read = 0
    with path.open("rb") as handle:
        while read < _SCAN_LIMIT and (chunk := handle.read(_CHUNK)):
            read += len(chunk)
            if needle in carry + chunk:
                return True
            carry = chunk[-len(needle) :]
    return False
