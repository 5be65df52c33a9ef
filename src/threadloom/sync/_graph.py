"""The vertices and edges of the lock-order graph (see ``_order``), free of imports so
that every module of the package can name them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Edge:
    """A -> B: B was acquired while A was held, first by ``thread`` at ``stack``;
    ``sites`` are where A's and B's locks were created."""

    src: str
    dst: str
    thread: str
    stack: str
    sites: tuple[tuple[str, int], tuple[str, int]]


class Node:
    """A vertex of the lock-order graph: one lock, or every lock of one creation site.

    ``site`` is ``(file, line)`` where its lock(s) were created: suppressions match it.
    """

    __slots__ = ("label", "site", "succ")

    def __init__(self, label: str, site: tuple[str, int]) -> None:
        self.label = label
        self.site = site
        # Successor node -> the edge that first connected them.
        self.succ: dict[Node, Edge] = {}

    def __repr__(self) -> str:
        return f"<Node {self.label}>"
