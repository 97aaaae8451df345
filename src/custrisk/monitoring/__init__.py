"""Monitoring: reference distributions stored at training, compared by drift checks."""

from custrisk.monitoring.reference import (
    Reference,
    build_reference,
    reference_from_dict,
)

__all__ = ["Reference", "build_reference", "reference_from_dict"]
