"""Rules as registered objects: id, category, severity, guideline reference, overridable.

A rule is a generator over a prepared `Context` yielding `Hit`s (rows + message); the engine
turns hits into `Finding`s with the rule's metadata, applies overrides and orders them. A rule
may declare when it cannot fire (`mce_edit`, `needs_categories`, `needs`) so the engine skips it
without calling it; the declaration must be a necessary condition, never a guess. Rule
ids are the public names of CODING-RULES.md and never change meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from app.validation.model import Category, Level

if TYPE_CHECKING:
    from app.validation.context import Context


class Hit(NamedTuple):
    """One occurrence of a rule: the 1-based rows it pins, and a message naming the codes.

    `severity` and `guideline_ref` override the rule's defaults for this occurrence (a rule may
    say `info` for Excludes2 and `error` otherwise, or cite a more specific paragraph). A
    NamedTuple, not a frozen dataclass: as immutable, and about half the cost to build (the
    engine turns each hit into a `Finding` at once).
    """

    rows: tuple[int, ...]
    message: str
    procedure_rows: tuple[int, ...] = ()
    severity: Level | None = None
    guideline_ref: str | None = None


Check = Callable[["Context"], Iterator[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    category: Category
    severity: Level
    guideline_ref: str
    overridable: bool
    check: Check
    # An MCE-driven rule runs only when the Medicare Code Editor fired this edit for the chart.
    mce_edit: int | None = None
    # A rule that can only fire when a valid row falls in one of these 3-character categories
    # (e.g. O80 for R-SEQ-08) runs only then: the engine decides with one set operation.
    needs_categories: frozenset[str] | None = None
    # A rule that reads only some of the row lists the engine prepares on `Context` (e.g.
    # `irregular`, `pair_rows`) runs only when one of the lists named here is non-empty.
    needs: frozenset[str] = frozenset()


RULES: dict[str, Rule] = {}


def rule(
    rule_id: str,
    title: str,
    *,
    category: Category,
    severity: Level,
    guideline_ref: str,
    overridable: bool = False,
    mce_edit: int | None = None,
    needs_categories: Iterable[str] | None = None,
    needs: Iterable[str] = (),
) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        categories = frozenset(needs_categories) if needs_categories is not None else None
        if categories is not None and any(len(c) != 3 for c in categories):
            raise ValueError(f"rule {rule_id}: needs_categories are 3-character categories")
        RULES[rule_id] = Rule(
            rule_id,
            title,
            category,
            severity,
            guideline_ref,
            overridable,
            check,
            mce_edit,
            categories,
            frozenset(needs),
        )
        return check

    return register
