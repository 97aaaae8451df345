"""Reading YAML configs with messages that name the file, the key path and the value."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from custrisk.errors import ConfigError, UsageError

#: Limits that keep a malformed or hostile config from hanging or crashing the reader.
#: Real configs are a few KB, a few levels deep and a few thousand values at most.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_DEPTH = 50
MAX_NODES = 100_000
#: A share written as a percentage (``50%``, ``45 ％``) where a share (0.5) is meant.
_PERCENT_TEXT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*[%％]\s*")


class _Limits:
    """The checks of a safe loader that keeps dates as text (they are checked with the
    key path later).

    While composing it keeps the key path and refuses, naming the file, line and key, a
    document nested more than :data:`MAX_DEPTH` levels, one whose aliases expand it to
    more than :data:`MAX_NODES` values (a "billion laughs" file) and an alias that refers
    to the node that contains it.
    """

    anchors: dict[Any, yaml.Node]
    peek_event: Any

    def _start(self, file: str) -> None:
        self.file = file
        self.key_path: list[str] = []
        # id(node) -> number of nodes / levels it stands for with its aliases expanded
        self.sizes: dict[int, int] = {}
        self.heights: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.key_path.append(_segment(parent, index))
        try:
            event = self.peek_event()
            if len(self.key_path) > MAX_DEPTH:
                raise self.limit_error(event, f"the YAML is nested more than {MAX_DEPTH} levels")
            if isinstance(event, yaml.AliasEvent):
                target = self.anchors.get(event.anchor)
                if target is not None and id(target) not in self.sizes:
                    raise self.limit_error(
                        event,
                        f"alias *{event.anchor} refers to the value that contains it",
                        hint="an alias may only repeat a value that is complete",
                    )
            node = super().compose_node(parent, index)  # type: ignore[misc]
            assert node is not None  # only an empty document composes to None
            key = id(node)
            if key not in self.sizes:
                children = _children(node)
                self.sizes[key] = 1 + sum(self.sizes[id(child)] for child in children)
                self.heights[key] = 1 + max((self.heights[id(c)] for c in children), default=0)
            if self.sizes[key] > MAX_NODES:
                raise self.limit_error(
                    event,
                    f"the YAML holds more than {MAX_NODES} values once its aliases "
                    "(*name) are expanded",
                    hint="configs are small; remove the nested aliases",
                )
            if len(self.key_path) - 1 + self.heights[key] > MAX_DEPTH:
                raise self.limit_error(
                    event,
                    f"the YAML is nested more than {MAX_DEPTH} levels once its aliases "
                    "(*name) are expanded",
                )
            return node
        finally:
            self.key_path.pop()

    def limit_error(self, event: yaml.Event, message: str, hint: str | None = None) -> ConfigError:
        mark = event.start_mark
        key = _clip_path(_join_path(self.key_path))
        return ConfigError(
            message,
            file=f"{self.file}:{mark.line + 1}:{mark.column + 1}" if mark else self.file,
            key=key or None,
            hint=hint or "flatten the config; no setting needs that many levels",
        )


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _Loader(_Limits, Composer, CParser, SafeConstructor, Resolver):
        """libyaml's parser (C: a quarter of the time of PyYAML's own, which the
        configs of a command took a tenth of a second in) under PyYAML's composer, so
        that the checks of :class:`_Limits` see every node as it is composed."""

        def __init__(self, stream: str, file: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._start(file)

else:  # pragma: no cover - PyYAML built without libyaml

    class _Loader(_Limits, yaml.SafeLoader):  # type: ignore[no-redef]
        def __init__(self, stream: str, file: str) -> None:
            super().__init__(stream)
            self._start(file)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _segment(parent: yaml.Node | None, index: Any) -> str:
    """The key path step from ``parent`` to the node composed at ``index``."""
    if isinstance(parent, yaml.SequenceNode):
        return f"[{index}]"
    if isinstance(parent, yaml.MappingNode):
        return str(index.value) if isinstance(index, yaml.ScalarNode) else "?"
    return ""


def _join_path(segments: list[str]) -> str:
    path = ""
    for segment in segments:
        if segment.startswith("[") or not path:
            path += segment
        else:
            path += f".{segment}"
    return path


def _clip_path(path: str, limit: int = 80) -> str:
    return path if len(path) <= limit else path[: limit - 3] + "..."


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml_file(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML file; syntax errors name the line and column.

    Files over :data:`MAX_CONFIG_BYTES`, nested more than :data:`MAX_DEPTH` levels or
    expanding (through aliases) to more than :data:`MAX_NODES` values are refused.
    """
    path = Path(path)
    return load_yaml_text(_read_text(path), path)


def load_yaml_text(text: str, path: str | os.PathLike[str]) -> Any:
    """Parse YAML text read from ``path`` (named in messages), e.g. bytes verified once;
    the same limits as :func:`load_yaml_file` apply."""
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file is larger than {MAX_CONFIG_BYTES:,} bytes",
            file=str(path),
            hint="a config holds settings, not data; check that the path names the YAML file",
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    loader = _Loader(text, str(path))
    try:
        tree = loader.get_single_node()
        if tree is None:
            return None
        _check_duplicate_keys(tree, "", str(path), set())
        return loader.construct_document(tree)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem, hint = str(exc.problem), "fix the YAML syntax at that line"
        found = _character_at(text, mark.line, mark.column) if mark else ""
        if problem == "found character that cannot start any token" and found:
            problem = f"found character {found!r} that cannot start any token"  # (libyaml's)
        if found == "\t":
            hint = "indent with spaces: YAML does not allow tabs there"
        raise ConfigError(f"invalid YAML: {problem}", file=where, hint=hint) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=str(path)) from None
    finally:
        loader.dispose()


def _character_at(text: str, line: int, column: int) -> str:
    """The character at a mark's line and column (0-based), or ``""``."""
    lines = text.split("\n")
    return lines[line][column] if 0 <= line < len(lines) and 0 <= column < len(lines[line]) else ""


def _read_text(path: Path) -> str:
    """The file's text, read no further than :data:`MAX_CONFIG_BYTES`."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            "config file not found",
            file=str(path),
            # not "--config": --policy, --notify-config, --jdy-profile, ... read files here too
            hint="check the path (a relative one is read from the current folder)",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            "is a folder, not a config file", file=str(path), hint="name the YAML file itself"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config: {exc.strerror}", file=str(path)) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file is larger than {MAX_CONFIG_BYTES:,} bytes",
            file=str(path),
            hint="a config holds settings, not data; check that the path names the YAML file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config is not valid UTF-8 (byte {exc.start})",
            file=str(path),
            hint="save the YAML file as UTF-8",
        ) from None
    # line ends as text mode reads them
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_duplicate_keys(node: yaml.Node, path: str, file: str, done: set[int]) -> None:
    if id(node) in done:  # a value repeated by an alias is checked where it is defined
        return
    done.add(id(node))
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
            _check_duplicate_keys(value_node, child, file, done)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_duplicate_keys(item, f"{path}[{i}]", file, done)


def _fmt(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def join_limited(items: Iterable[Any], limit: int = 5) -> str:
    """``a, b, c`` with at most ``limit`` items, then ``and N more``."""
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def percent_written(value: Any) -> float | None:
    """The percentage of a share written as one (``"50%"``: 50.0), for a message that
    says to write 0.5; ``None`` for any other value."""
    typed = _PERCENT_TEXT.fullmatch(value) if isinstance(value, str) else None
    return float(typed[1]) if typed else None


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
        if isinstance(value, bool):  # fail_on: no, lock: off -- YAML made it a boolean
            raise self.error(
                name,
                f"expected a text, got {str(value).lower()} (an unquoted yes/no, on/off or "
                "true/false is a boolean in YAML)",
                hint=f"allowed values: {join_limited(list(allowed), 20)}"
                if allowed is not None
                else f"quote the word, e.g. {name}: '{'yes' if value else 'no'}'",
            )
        if not isinstance(value, str) or not value:
            raise self.error(name, f"expected a non-empty text, got {_fmt(value)}")
        if allowed is not None and value not in (allowed := list(allowed)):
            # quoted when one is punctuation (decimal: ".", ","), as a bare list of them
            # reads as punctuation of the sentence
            words = all(a.replace("_", "").replace("-", "").isalnum() for a in allowed)
            shown = allowed if words else [repr(a) for a in allowed]
            raise self.error(
                name,
                f"{_fmt(value)} is not allowed",
                hint=f"allowed values: {join_limited(shown, 20)}",
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


#: Config file versions this custrisk reads.
CONFIG_VERSIONS = (1,)


def config_root(
    data: Any, file: str, *, allowed: Iterable[str], required: Iterable[str] = ()
) -> Node:
    """The top level of a parsed config: a mapping with known keys and a version this
    custrisk reads (``version`` may be left out: 1)."""
    root = Node(data if data is not None else {}, file, "")
    root.check_keys(allowed, required=required)
    version = root.get("version", 1)
    if isinstance(version, bool) or version not in CONFIG_VERSIONS:
        raise root.error(
            "version",
            f"unsupported config version {version}",
            hint=f"this custrisk reads version {', '.join(map(str, CONFIG_VERSIONS))}",
        )
    return root


def open_config(
    path: str | os.PathLike[str] | None,
    default_name: str,
    *,
    allowed: Iterable[str],
    required: Iterable[str] = (),
) -> Node:
    """Read a config YAML (the packaged ``default_name`` when ``path`` is None) and
    check its top level (:func:`config_root`): the one way every config is opened."""
    from custrisk.config.resources import default_config_path

    if path is not None and not isinstance(path, str | os.PathLike):
        raise UsageError(
            f"the {default_name} config must be a path (str or pathlib.Path); got "
            f"{type(path).__name__}",
            hint="write it to a YAML file and pass the file's path",
        )
    file = Path(path) if path is not None else default_config_path(default_name)
    return config_root(load_yaml_file(file), str(file), allowed=allowed, required=required)
