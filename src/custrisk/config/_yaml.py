"""Reading YAML configs with messages that name the file, the key path and the value."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from custrisk.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """Safe loader that keeps dates as text: they are checked with the key path later."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml_file(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML file; syntax errors name the line and column."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found", file=str(path), hint="check the path given with --config"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config is not valid UTF-8 (byte {exc.start})",
            file=str(path),
            hint="save the YAML file as UTF-8",
        ) from None
    return load_yaml_text(text, path)


def load_yaml_text(text: str, path: str | os.PathLike[str]) -> Any:
    """Parse YAML text read from ``path`` (named in messages), e.g. bytes verified once."""
    try:
        tree = yaml.compose(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
        if tree is not None:
            _check_duplicate_keys(tree, "", str(path))
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(
            f"invalid YAML: {exc.problem}", file=where, hint="fix the YAML syntax at that line"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=str(path)) from None


def _check_duplicate_keys(node: yaml.Node, path: str, file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            child = f"{path}.{key}" if path else key
            if key in seen:
                what = "indicator code" if path == "indicators" else "key"
                raise ConfigError(
                    f"duplicate {what} '{key}' (lines {seen[key]} and {line})",
                    file=f"{file}:{line}",
                    key=child,
                    hint="each key may appear only once; rename or remove one of them",
                )
            seen[key] = line
            _check_duplicate_keys(value_node, child, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, f"{path}[{i}]", file)


def _fmt(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def join_limited(items: Iterable[Any], limit: int = 5) -> str:
    """``a, b, c`` with at most ``limit`` items, then ``and N more``."""
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


class Node:
    """A mapping from a YAML file with its key path, for precise error messages."""

    def __init__(self, data: Any, file: str, path: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"expected a mapping of keys, got {type(data).__name__} {_fmt(data)}",
                file=file,
                key=path or "<top level>",
            )
        self.data: Mapping[str, Any] = data
        self.file = file
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else str(name)

    def error(self, name: str | None, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(
            message, file=self.file, key=self.key(name) if name else self.path, hint=hint
        )

    def check_keys(self, allowed: Iterable[str], required: Iterable[str] = ()) -> None:
        allowed = list(allowed)
        for name in self.data:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1)
                did = f"did you mean '{close[0]}'? " if close else ""
                raise self.error(
                    str(name), "unknown key", hint=f"{did}allowed keys: {join_limited(allowed, 20)}"
                )
        for name in required:
            if name not in self.data:
                raise self.error(name, "required key is missing")

    def child(self, name: str) -> Node:
        return Node(self.data.get(name) or {}, self.file, self.key(name))

    def children(self, name: str) -> dict[str, Node]:
        sub = self.child(name)
        return {
            str(k): Node(v if v is not None else {}, self.file, sub.key(str(k)))
            for k, v in sub.data.items()
        }

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def text(
        self,
        name: str,
        default: str | None = None,
        *,
        allowed: Iterable[str] | None = None,
        required: bool = False,
    ) -> Any:
        value = self.data.get(name, default)
        if value is None:
            if required:
                raise self.error(name, "required key is missing")
            return None
        if not isinstance(value, str) or not value:
            raise self.error(name, f"expected a non-empty text, got {_fmt(value)}")
        if allowed is not None and value not in (allowed := list(allowed)):
            raise self.error(
                name,
                f"{_fmt(value)} is not allowed",
                hint=f"allowed values: {join_limited(allowed, 20)}",
            )
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {_fmt(value)}")
        return value

    def number(
        self,
        name: str,
        default: float | None = None,
        *,
        minimum: float | None = None,
        integer: bool = False,
    ) -> Any:
        value = self.data.get(name, default)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not isinstance(value, int))
        ):
            kind = "an integer" if integer else "a number"
            raise self.error(name, f"expected {kind}, got {_fmt(value)}")
        if minimum is not None and value < minimum:
            raise self.error(name, f"must be at least {minimum}, got {_fmt(value)}")
        return value

    def text_list(
        self, name: str, default: list[str] | None = None, *, allow_empty: bool = False
    ) -> tuple[str, ...] | None:
        value = self.data.get(name, default)
        if value is None:
            return None
        if not isinstance(value, list) or (not value and not allow_empty):
            kind = "a list" if allow_empty else "a non-empty list"
            raise self.error(name, f"expected {kind}, got {_fmt(value)}")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.error(f"{name}[{i}]", f"expected a text value, got {_fmt(item)}")
            out.append(str(item))
        return tuple(out)
