"""Syntax tree of the expression language (our own node classes, not Python's ``ast``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Node:
    """Base of all nodes; ``pos`` is the 0-based offset of the node's token."""

    pos: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    """A number, a quoted text or ``true``/``false``."""

    value: float | str | bool


@dataclass(frozen=True, slots=True)
class Name(Node):
    """A column, indicator or field name (resolved by the type checker)."""

    name: str


@dataclass(frozen=True, slots=True)
class Unary(Node):
    """``-x``, ``+x`` or ``not x``."""

    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """Arithmetic (``+ - * / **``), comparison (``== != < <= > >=``) or ``and``/``or``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A call of a whitelisted function by name."""

    func: str
    args: tuple[Node, ...]


def iter_nodes(node: Node) -> list[Node]:
    """All nodes of the tree under ``node`` (itself included), depth first."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        if isinstance(current, Unary):
            stack.append(current.operand)
        elif isinstance(current, Binary):
            stack.extend((current.right, current.left))
        elif isinstance(current, Call):
            stack.extend(reversed(current.args))
    return out
