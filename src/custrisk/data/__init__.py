"""Loading, validating and cleaning the monthly exports."""

from custrisk.data.workspace import (
    REJECTS_FILE,
    REPORT_FILE,
    SourceReport,
    ValidationReport,
    Workspace,
    load_labels,
    load_workspace,
    mask_rejects,
    rejects_to_write,
)

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
