"""Rules as registered objects: id, category, severity, guideline reference, overridable.

A rule is a generator over a prepared `Context` yielding `Hit`s (rows + message); the engine
turns hits into `Finding`s with the rule's metadata, applies overrides and orders them. Rule
ids are the public names of CODING-RULES.md and never change meaning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.validation.model import Category, Level

if TYPE_CHECKING:
    from app.validation.context import Context


@dataclass(frozen=True, slots=True)
class Hit:
    """One occurrence of a rule: the 1-based rows it pins, and a message naming the codes.

    `severity` and `guideline_ref` override the rule's defaults for this occurrence (a rule may
    say `info` for Excludes2 and `error` otherwise, or cite a more specific paragraph).
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
) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, title, category, severity, guideline_ref, overridable, check, mce_edit)
        return check

    return register
