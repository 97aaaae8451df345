"""Rendering report contexts to HTML (Jinja2) and PDF (WeasyPrint).

Safety rules, enforced here and tested:

* Jinja autoescaping is on for every template; charts are built from numbers in
  :mod:`custrisk.report.charts` and escaped there.
* No data value is written into an ``href``, ``src`` or ``style`` attribute: colours
  come from the config (validated), widths are computed numbers in SVG attributes.
* WeasyPrint's URL fetcher allows only ``data:`` URLs and files inside the template
  folder, so nothing a customer record holds can pull in a file or a remote resource.

A :class:`ReportRenderer` compiles the templates and parses the stylesheet once; reuse
it for many documents (the batch keeps one per worker process).
"""

from __future__ import annotations

import ctypes.util
import functools
import hashlib
import logging
import os
import shutil
import subprocess
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from custrisk.config.resources import default_templates_dir
from custrisk.errors import ConfigError
from custrisk.report import charts
from custrisk.report.config import LANGUAGES, ReportConfig
from custrisk.report.fonts import FontFace, build_subset_fonts, font_work_dir

if TYPE_CHECKING:
    from weasyprint.document import Document

    from custrisk.report._weasy import WeasyEngine

log = logging.getLogger(__name__)

TEMPLATE_FILES = {"customer": "customer.html", "portfolio": "portfolio.html"}
STYLESHEET = "report.css"
CJK_FONT_PACKAGE = "fonts-noto-cjk"
HARFBUZZ_SUBSET_PACKAGE = "libharfbuzz-subset0"
MISSING_GLYPH = ".notdef"
_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
)
_CJK_PROBE = "风险客户"


def thousands(value: Any) -> str:
    """A count with thousands separators (``12,944``), for the templates' ``thousands``
    filter; anything but a whole number is printed as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)


@functools.cache
def find_cjk_fonts() -> tuple[str, ...]:
    """Families of the installed fonts that cover Chinese.

    Asks fontconfig (``fc-list :lang=zh``); without ``fc-list``, scans the usual font
    folders with fontTools for a font whose character map holds common Chinese
    characters.
    """
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            done = subprocess.run(  # noqa: S603 - fixed arguments
                [fc_list, ":lang=zh", "family"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            return tuple(sorted({line.strip() for line in done.stdout.splitlines() if line}))
        except (OSError, subprocess.SubprocessError):
            pass
    return _scan_font_files()


def _scan_font_files() -> tuple[str, ...]:
    try:
        from fontTools.ttLib import TTCollection, TTFont
    except ImportError:  # pragma: no cover - fontTools comes with WeasyPrint
        return ()
    for folder in _FONT_DIRS:
        root = Path(folder).expanduser()
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            suffix = path.suffix.lower()
            if suffix not in (".ttf", ".otf", ".ttc", ".otc"):
                continue
            try:
                fonts = (
                    TTCollection(path, lazy=True).fonts
                    if suffix in (".ttc", ".otc")
                    else [TTFont(path, lazy=True)]
                )
                for font in fonts:
                    cmap = font.getBestCmap() or {}
                    if all(ord(ch) in cmap for ch in _CJK_PROBE):
                        return (str(font["name"].getDebugName(1) or path.name),)
            except Exception:  # noqa: BLE001 - an unreadable font file is skipped
                continue
    return ()


def check_cjk_font() -> tuple[str, ...]:
    """Fail early when no Chinese font is installed (reports would show empty boxes).

    Returns
    -------
    tuple of str
        The font families that cover Chinese.

    Raises
    ------
    ConfigError
        When none is installed, naming the package to install.
    """
    families = find_cjk_fonts()
    if not families:
        raise ConfigError(
            "no font with Chinese characters is installed, so reports would show empty boxes",
            hint=(
                f"install the {CJK_FONT_PACKAGE} package (Debian/Ubuntu: sudo apt-get install "
                f"{CJK_FONT_PACKAGE}) and run again"
            ),
        )
    return families


@functools.cache
def harfbuzz_subset_available() -> bool:
    """Whether HarfBuzz's subsetter is installed (without it CJK fonts subset ~65x slower)."""
    found = ctypes.util.find_library("harfbuzz-subset") is not None
    if not found:
        log.warning(
            "libharfbuzz-subset is not installed: WeasyPrint falls back to fontTools and "
            "Chinese reports render many times slower; install the %s package",
            HARFBUZZ_SUBSET_PACKAGE,
        )
    return found


def resolve_templates_dir(templates: str | os.PathLike[str] | None) -> Path:
    """The template folder (default: the packaged one), checked for the needed files."""
    folder = Path(templates) if templates is not None else default_templates_dir()
    if not folder.is_dir():
        raise ConfigError(
            "the report template folder does not exist",
            file=str(folder),
            hint="pass an existing folder with --templates",
        )
    needed = [*TEMPLATE_FILES.values(), STYLESHEET]
    missing = [name for name in needed if not (folder / name).is_file()]
    if missing:
        raise ConfigError(
            f"the template folder lacks {', '.join(missing)}",
            file=str(folder),
            hint=f"start from a copy of the packaged templates in {default_templates_dir()}",
        )
    return folder.resolve()


def templates_hash(folder: Path) -> str:
    """SHA-256 over the names and bytes of every file in the template folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class RenderedReport:
    """One rendered report.

    Attributes
    ----------
    pdf : bytes
        The PDF document.
    pages : int
        Its page count.
    warnings : list of str
        WeasyPrint's warnings (a ``.notdef`` one means a character had no glyph).
    """

    pdf: bytes
    pages: int
    warnings: list[str] = field(default_factory=list)

    @property
    def missing_glyphs(self) -> list[str]:
        return [w for w in self.warnings if MISSING_GLYPH in w]


class ReportRenderer:
    """Turns report contexts into HTML and PDF with one set of templates.

    Parameters
    ----------
    config : ReportConfig
        Labels, colours and the chart font.
    lang : {"zh", "en"}
        Language of the labels.
    templates_dir : path-like, optional
        Folder with ``customer.html``, ``portfolio.html`` and ``report.css`` (default:
        the packaged templates).
    font_faces : list of FontFace, optional
        Compact CJK faces already built (the batch builds them once for all workers);
        by default they are built on first use when the config names a
        ``style.compact_font_source`` (see :mod:`custrisk.report.fonts`).
    """

    def __init__(
        self,
        config: ReportConfig,
        *,
        lang: str = "zh",
        templates_dir: str | os.PathLike[str] | None = None,
        font_faces: Sequence[FontFace] | None = None,
    ) -> None:
        if lang not in LANGUAGES:
            raise ConfigError(f"lang must be one of {', '.join(LANGUAGES)}; got {lang!r}")
        self.config = config
        self.lang = lang
        self.templates_dir = resolve_templates_dir(templates_dir)
        self.texts = config.texts_for(lang)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.templates_dir)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["thousands"] = thousands
        self.env.globals.update(t=self.texts, lang=lang, palette_css=self._palette_css())
        try:
            self.templates = {
                kind: self.env.get_template(name) for kind, name in TEMPLATE_FILES.items()
            }
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                f"template syntax error at line {exc.lineno}: {exc.message}",
                file=str(self.templates_dir / (exc.name or "?")),
            ) from None
        self.css_text = (self.templates_dir / STYLESHEET).read_text(encoding="utf-8")
        self._engine: WeasyEngine | None = None
        self._font_faces = list(font_faces) if font_faces is not None else None
        self._cleanup: weakref.finalize | None = None
        self._grade_colors = {code: g.color for code, g in config.grades.items()}

    @property
    def engine(self) -> WeasyEngine:
        """The WeasyPrint side, created on first use (imports WeasyPrint)."""
        if self._engine is None:
            from custrisk.report._weasy import WeasyEngine

            self._engine = WeasyEngine(self.templates_dir, self.css_text, self.font_faces())
        return self._engine

    def font_faces(self) -> list[FontFace]:
        """The compact CJK faces (built into a temporary folder on first call)."""
        if self._font_faces is None:
            source = self.config.compact_font_source
            if source:
                folder = font_work_dir()
                self._cleanup = weakref.finalize(self, shutil.rmtree, folder, True)
                self._font_faces = build_subset_fonts(source, folder)
            else:
                self._font_faces = []
        return self._font_faces

    def _palette_css(self) -> Markup:
        """CSS classes for grade and alert-level colours, from the (validated) config."""
        rules = [f".g-{code}{{background:{g.color}}}" for code, g in self.config.grades.items()]
        rules += [f".c-g-{code}{{color:{g.color}}}" for code, g in self.config.grades.items()]
        rules += [
            f".lv-{code}{{background:{lv.color}}}" for code, lv in self.config.alert_levels.items()
        ]
        rules += [
            f".c-lv-{code}{{color:{lv.color}}}" for code, lv in self.config.alert_levels.items()
        ]
        return Markup("\n".join(rules))  # noqa: S704 - keys and colours are validated

    # -- charts --------------------------------------------------------------------------

    def _customer_charts(self, ctx: dict[str, Any]) -> dict[str, Any]:
        style = self.config.style
        t = self.texts
        danger = next(iter(self.config.alert_levels.values())).color
        impacts = [abs(r["impact"]) for r in ctx["reasons"] if r["impact"] is not None]
        top = max(impacts, default=0.0)
        return {
            "gauge": charts.gauge(
                ctx["score"]["gauge"],
                colors=self._grade_colors,
                style=style,
                score_text=ctx["score"]["text"],
                caption=t["score"],
            ),
            "reasons": [
                charts.hbar(
                    abs(r["impact"]) / top if r["impact"] is not None and top else None,
                    color=danger,
                    style=style,
                )
                for r in ctx["reasons"]
            ],
            "percentiles": [
                charts.percentile_marker(
                    row["percentile"], style=style, flag_color=danger, flagged=row["flag"]
                )
                for row in ctx["indicators"]
            ],
            "reason_percentiles": [
                charts.percentile_marker(
                    r["percentile"], style=style, flag_color=danger, flagged=False
                )
                for r in ctx["reasons"]
            ],
            "history": charts.line(
                ctx["history"],
                style=style,
                colors=self._grade_colors,
                caption=t["section_history"],
                width=335,
                height=74,
            )
            if ctx["history"]
            else None,
        }

    def _portfolio_charts(self, ctx: dict[str, Any]) -> dict[str, Any]:
        style = self.config.style
        t = self.texts
        return {
            "donut": charts.donut(
                ctx["grades"] or [],
                colors=self._grade_colors,
                style=style,
                center_text=ctx["overview"]["customers_text"],
                center_caption=t["customers"],
            )
            if ctx["grades"]
            else None,
            "histogram": charts.histogram(
                ctx["histogram"],
                colors=self._grade_colors,
                style=style,
                caption=t["score"],
                y_title=t["customers"],
            ),
            "calibration": charts.calibration(
                ctx["model"]["calibration"],
                style=style,
                predicted_label=t["predicted_pd"],
                observed_label=t["observed_bad_rate"],
                caption=t["calibration"],
            )
            if ctx["model"]["calibration"]
            else None,
            "grade_bars": [
                charts.hbar(
                    row["share"],
                    color=self._grade_colors.get(row["code"], style["accent"]),
                    style=style,
                    width=70,
                )
                for row in ctx["grades"] or []
            ],
        }

    # -- output --------------------------------------------------------------------------

    def html(self, context: dict[str, Any]) -> str:
        """The HTML of a customer or portfolio context (``context["kind"]``)."""
        kind = context["kind"]
        charts_data = (
            self._customer_charts(context)
            if kind == "customer"
            else self._portfolio_charts(context)
        )
        return self.templates[kind].render(ctx=context, charts=charts_data)

    def render(self, context: dict[str, Any]) -> RenderedReport:
        """The PDF of a context (renders HTML, then lays it out with WeasyPrint)."""
        result = self.engine.write_pdf(self.html(context))
        return RenderedReport(pdf=result.pdf, pages=result.pages, warnings=result.warnings)

    def layout(self, context: dict[str, Any]) -> Document:
        """WeasyPrint's laid-out document of a context: pages and positioned boxes.

        For layout checks (text inside the page, boxes not overlapping); :meth:`render`
        is the way to a PDF.
        """
        return self.engine.layout(self.html(context))

    @property
    def fetched_urls(self) -> list[str]:
        """Every URL WeasyPrint asked for so far (for audits and tests)."""
        return list(self._engine.fetcher.requested) if self._engine else []

    @property
    def refused_urls(self) -> list[str]:
        return list(self._engine.fetcher.refused) if self._engine else []
