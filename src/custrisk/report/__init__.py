"""PDF risk reports: per-customer and portfolio, in Chinese or English.

* :mod:`custrisk.report.inputs` reads a scoring run (scores, details, run facts, alerts).
* :mod:`custrisk.report.customer` and :mod:`custrisk.report.portfolio` build the plain
  data of a report (:func:`build_customer_context`, :func:`build_portfolio_context`) from
  the pieces both share in :mod:`custrisk.report.context`.
* :mod:`custrisk.report.render` turns a context into HTML (Jinja2) and PDF (WeasyPrint).
* :mod:`custrisk.report.batch` renders many reports in a process pool, with a manifest
  and resume.

WeasyPrint is imported only when a PDF is rendered.
"""

from custrisk.report.config import ReportConfig, load_report_config
from custrisk.report.context import PortfolioStats, portfolio_stats
from custrisk.report.customer import build_customer_context
from custrisk.report.inputs import ReportInputs, load_report_inputs, select_customers
from custrisk.report.portfolio import build_portfolio_context
from custrisk.report.render import (
    RenderedReport,
    ReportRenderer,
    check_cjk_font,
    harfbuzz_subset_available,
)

__all__ = [
    "PortfolioStats",
    "RenderedReport",
    "ReportConfig",
    "ReportInputs",
    "ReportRenderer",
    "build_customer_context",
    "build_portfolio_context",
    "check_cjk_font",
    "harfbuzz_subset_available",
    "load_report_config",
    "load_report_inputs",
    "portfolio_stats",
    "select_customers",
]
