"""YAML configuration: loading, validation into frozen objects, packaged defaults."""

from custrisk.config.columns import ColumnSpec
from custrisk.config.resources import default_config_path, default_templates_dir
from custrisk.config.sources import RowCheck, SourcesConfig, SourceSpec, load_sources_config

__all__ = [
    "ColumnSpec",
    "RowCheck",
    "SourceSpec",
    "SourcesConfig",
    "default_config_path",
    "default_templates_dir",
    "load_sources_config",
]
