"""Rules that name locks by where they are created: suppressions and ownerless locks.

One rule per line, ``KIND:WHERE[:LINE|NAME]`` (``#`` starts a comment):

- ``KIND`` is ``lock-order`` (do not report a lock-order cycle through such a lock) or
  ``ownerless`` (such locks are released by threads other than their acquirer, from
  their creation on: see :func:`threadloom.sync.ownerless`).
- ``WHERE`` is a dotted module name (``readerwriterlock.rwlock``, also matching its
  submodules), or a file path pattern (it contains ``/`` or ends in ``.py``; ``*`` and
  ``?`` as in :mod:`fnmatch`), matched against the end of the file that created the lock.
- ``LINE`` (digits) narrows the rule to the lock created on that line; ``NAME`` to the
  locks whose creating line assigns that name (``NAME = ...`` or ``self.NAME = ...``).

A finding is suppressed when any of its locks matches a ``lock-order`` rule. Certain
deadlocks are never suppressed: the program could not finish anyway.
"""

from __future__ import annotations

import fnmatch
import linecache
import os
import re
from dataclasses import dataclass
from typing import Literal, get_args

RuleKind = Literal["lock-order", "ownerless"]

_ASSIGNED = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*)\s*(?::[^=]*)?=[^=]")


@dataclass(frozen=True)
class Rule:
    """One parsed rule line (see the module docstring)."""

    kind: RuleKind
    where: str
    line: int | None = None
    name: str | None = None

    def matches(self, filename: str, line: int) -> bool:
        """Whether a lock created at ``filename:line`` is named by this rule."""
        if not _where_matches(self.where, filename):
            return False
        if self.line is not None and line != self.line:
            return False
        return self.name is None or assigned_name(filename, line) == self.name

    def __str__(self) -> str:
        narrow = self.line if self.line is not None else self.name
        return f"{self.kind}:{self.where}" + (f":{narrow}" if narrow is not None else "")


def parse_rule(text: str) -> Rule:
    """One rule from its text; ValueError naming what is wrong."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not parts[1]:
        raise ValueError(f"{text.strip()!r}: expected KIND:WHERE[:LINE|NAME]")
    kind, where = parts[0].strip(), parts[1].strip()
    if kind not in get_args(RuleKind):
        raise ValueError(f"{text.strip()!r}: KIND must be one of {', '.join(get_args(RuleKind))}")
    if len(parts) == 2:
        return Rule(kind, where)  # type: ignore[arg-type]
    narrow = parts[2].strip()
    if narrow.isdigit():
        return Rule(kind, where, line=int(narrow))  # type: ignore[arg-type]
    if not narrow.isidentifier():
        raise ValueError(f"{text.strip()!r}: LINE must be a number, NAME an identifier")
    return Rule(kind, where, name=narrow)  # type: ignore[arg-type]


def parse_rules(text: str, source: str = "<rules>") -> list[Rule]:
    """Every rule of a suppressions file's text; ValueError naming ``source`` and line."""
    rules = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            rules.append(parse_rule(line))
        except ValueError as exc:
            raise ValueError(f"{source}:{number}: {exc}") from None
    return rules


def load_suppressions(path: str) -> list[Rule]:
    """Read a rules file (``KIND:WHERE[:LINE|NAME]`` per line, ``#`` comments: see
    :func:`suppress`) and apply its rules for the rest of the process; returns them.

    ValueError names the file and line of a malformed rule; OSError if unreadable.
    """
    with open(path, encoding="utf-8") as file:
        rules = parse_rules(file.read(), path)
    add(rules)
    return rules


def suppress(*rules: str) -> list[Rule]:
    """Apply rules given as text, for the rest of the process; returns them parsed.

    ``suppress("lock-order:vendored.cache")`` silences every lock-order cycle through a
    lock created in module ``vendored.cache`` (its file ends in ``vendored/cache.py``);
    ``suppress("ownerless:app/pool.py:_slots")`` makes the locks created by a line of
    ``app/pool.py`` that assigns ``_slots`` ownerless (see :func:`ownerless`), from
    their creation on. ``KIND`` is ``lock-order`` or ``ownerless``; ``WHERE`` a dotted
    module (its submodules included) or a file pattern (containing ``/`` or ending in
    ``.py``, matched against the end of the path, ``*`` and ``?`` as in fnmatch); the
    optional third part a line number or an assigned name. A suppressed finding is kept
    in :func:`suppressed`, not in :func:`findings`; certain deadlocks are never
    suppressed, since the program could not finish anyway.
    """
    parsed = [parse_rule(rule) for rule in rules]
    add(parsed)
    return parsed


# What the standard Python ecosystem is known to do on purpose. readerwriterlock's
# reader-preferring and fair locks hold their resource lock for the whole group of
# readers (the first reader takes it, the last one, often another thread, releases it),
# and the writer-preferring ones hold their read-try lock for the group of writers.
BUILTIN: tuple[Rule, ...] = tuple(
    Rule("ownerless", "readerwriterlock.rwlock", name=name)
    for name in ("c_resource", "c_lock_write", "c_lock_read_try")
)

_rules: dict[RuleKind, list[Rule]] = {"lock-order": [], "ownerless": list(BUILTIN)}
# file name -> the ownerless rules whose WHERE matches it: every Lock's creation asks,
# and a program creates its locks from a few files.
_ownerless_by_file: dict[str, tuple[Rule, ...]] = {}


def add(rules: list[Rule]) -> None:
    """Apply ``rules`` for the rest of the process (ownerless ones to locks created later)."""
    for rule in rules:
        if rule not in _rules[rule.kind]:
            _rules[rule.kind].append(rule)
    _ownerless_by_file.clear()


def clear() -> None:
    """Forget every added rule (the built-in ones stay)."""
    _rules["lock-order"].clear()
    _rules["ownerless"][:] = BUILTIN
    _ownerless_by_file.clear()


def active() -> tuple[Rule, ...]:
    """The rules in force, built-in ones first."""
    return (*_rules["ownerless"], *_rules["lock-order"])


def ownerless_at(filename: str, line: int) -> Rule | None:
    """The rule declaring locks created at ``filename:line`` ownerless, if one does."""
    rules = _ownerless_by_file.get(filename)
    if rules is None:
        rules = tuple(r for r in _rules["ownerless"] if _where_matches(r.where, filename))
        _ownerless_by_file[filename] = rules
    for rule in rules:
        if rule.matches(filename, line):
            return rule
    return None


def suppressed(sites: tuple[tuple[str, int], ...]) -> Rule | None:
    """The ``lock-order`` rule matching any of ``sites`` (creation sites), if one does."""
    for rule in _rules["lock-order"]:
        for filename, line in sites:
            if rule.matches(filename, line):
                return rule
    return None


def assigned_name(filename: str, line: int) -> str | None:
    """The name a source line assigns (``self.c_resource = lock_factory()``: c_resource)."""
    match = _ASSIGNED.match(linecache.getline(filename, line))
    return match.group(1) if match else None


def _where_matches(where: str, filename: str) -> bool:
    path = filename.replace(os.sep, "/")
    if "/" in where or where.endswith(".py"):
        return fnmatch.fnmatchcase(path, where) or fnmatch.fnmatchcase(path, "*/" + where)
    stem = "/" + where.replace(".", "/")
    return path.endswith((stem + ".py", stem + "/__init__.py")) or (
        f"{stem}/" in path and path.endswith(".py")
    )
