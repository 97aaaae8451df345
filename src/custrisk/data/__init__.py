"""Loading, validating and cleaning the monthly exports."""

from custrisk.data.labels import load_labels
from custrisk.data.rejects import REJECTS_FILE, mask_rejects, rejects_to_write
from custrisk.data.validation import REPORT_FILE, SourceReport, ValidationReport
from custrisk.data.workspace import Workspace, load_workspace

__all__ = [
    "REJECTS_FILE",
    "REPORT_FILE",
    "SourceReport",
    "ValidationReport",
    "Workspace",
    "load_labels",
    "load_workspace",
    "mask_rejects",
    "rejects_to_write",
]
