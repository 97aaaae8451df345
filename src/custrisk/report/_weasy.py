"""The WeasyPrint side of rendering; imported only where PDFs are made (the workers).

Importing WeasyPrint costs about half a second and loads Pango, HarfBuzz and
fontconfig: the batch parent never needs it.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from weasyprint import CSS, HTML
from weasyprint.document import Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from custrisk.report.fonts import FontFace, font_face_css

log = logging.getLogger("custrisk.report.render")
WEASYPRINT_LOGGER = "weasyprint"


class FetchRefused(ValueError):
    """A resource outside the allowed set was asked for (WeasyPrint skips it)."""


class SafeURLFetcher(URLFetcher):
    """Fetches only ``data:`` URLs, regular files inside one folder and listed files.

    Everything else (other files, http, ftp, a symlink leading out of the folder, a
    ``file://host/...`` URL) is refused: WeasyPrint then leaves the resource out, so a
    data value that slipped into markup can embed nothing. Every request is recorded
    in :attr:`requested`, every refusal in :attr:`refused`. ``extra_files`` are
    the compact font files custrisk built itself.
    """

    def __init__(self, root: Path, extra_files: Sequence[str | Path] = ()) -> None:
        super().__init__(allowed_protocols=("data", "file"), allow_redirects=False)
        self.root = Path(root).resolve()
        self.extra_files = frozenset(Path(f).resolve() for f in extra_files)
        self.requested: list[str] = []
        self.refused: list[str] = []

    def _inside(self, url: str) -> Path | None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        path = Path(url2pathname(parts.path)).resolve()
        if (path.is_relative_to(self.root) or path in self.extra_files) and path.is_file():
            return path
        return None

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        self.requested.append(url)
        scheme = url.split(":", 1)[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        path = self._inside(url)
        if path is not None:
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": kind})
        self.refused.append(url)
        log.warning(
            "refused to fetch %r: reports load only data: URLs and files inside %s",
            url[:120],
            self.root,
        )
        raise FetchRefused(f"refused to fetch {url[:120]!r}")


class _Collect(logging.Handler):
    """Collects WeasyPrint warnings of one document (missing glyphs, bad CSS, ...)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class PdfResult:
    """A rendered PDF: its bytes, page count and WeasyPrint's warnings."""

    pdf: bytes
    pages: int
    warnings: list[str] = field(default_factory=list)


class WeasyEngine:
    """One font configuration and one parsed stylesheet, reused for every document."""

    def __init__(
        self, templates_dir: Path, css_text: str, font_faces: Sequence[FontFace] = ()
    ) -> None:
        self.templates_dir = templates_dir
        self.font_config = FontConfiguration()
        self.fetcher = SafeURLFetcher(templates_dir, [face.path for face in font_faces])
        self.stylesheets = []
        if font_faces:
            self.stylesheets.append(
                CSS(
                    string=font_face_css(list(font_faces)),
                    url_fetcher=self.fetcher,
                    font_config=self.font_config,
                )
            )
        self.stylesheets.append(
            CSS(
                string=css_text,
                base_url=templates_dir.as_uri() + "/",
                url_fetcher=self.fetcher,
                font_config=self.font_config,
            )
        )

    def layout(self, html: str) -> Document:
        """The laid-out pages of ``html`` (boxes with positions), before the PDF is written."""
        return HTML(
            string=html,
            base_url=self.templates_dir.as_uri() + "/",
            url_fetcher=self.fetcher,
        ).render(font_config=self.font_config, stylesheets=self.stylesheets)

    def write_pdf(self, html: str) -> PdfResult:
        collector = _Collect()
        logger = logging.getLogger(WEASYPRINT_LOGGER)
        logger.addHandler(collector)
        try:
            document = self.layout(html)
            pdf = document.write_pdf()
        finally:
            logger.removeHandler(collector)
        return PdfResult(pdf=pdf, pages=len(document.pages), warnings=collector.messages)
