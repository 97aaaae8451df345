"""Synthetic monthly exports (credit, transactions, behaviour, labels) for demos and tests."""

from custrisk.sample.generator import (
    DEFAULT_AS_OF,
    ENCODINGS,
    FAULT_KINDS,
    SampleFrames,
    SampleSummary,
    generate_frames,
    generate_sample_data,
    resolve_as_of,
    validate_options,
)

__all__ = [
    "DEFAULT_AS_OF",
    "ENCODINGS",
    "FAULT_KINDS",
    "SampleFrames",
    "SampleSummary",
    "generate_frames",
    "generate_sample_data",
    "resolve_as_of",
    "validate_options",
]
