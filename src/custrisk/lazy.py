"""A package's names imported when first used (PEP 562): the package keeps what it
exports in a table of name -> module, and its ``__getattr__`` imports the module the
first time a name is asked for, so that importing the package stays cheap (the CLI's
start-up: ``tests/test_startup.py``).

>>> __getattr__, __dir__ = lazy_names(__name__, {"create_app": "custrisk.serve.app"})
... # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for the names of ``where``
    (name -> the module that defines it, a full dotted name). A name found is kept in the
    package's namespace, so that it is imported once."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
