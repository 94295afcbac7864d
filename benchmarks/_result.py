"""What a benchmark returns: figures, table rows and targets (plain JSON-able data)."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Result", "Row", "Target"]


@attrs.define
class Row:
    """One line of the printed table."""

    label: str
    value: float
    unit: str
    note: str = ""


@attrs.define
class Target:
    """A goal for one figure: ``value`` compared to ``limit`` with ``op`` (">=", "<=", "==")."""

    name: str
    value: float
    op: str
    limit: float

    @property
    def met(self) -> bool:
        """Whether the figure reaches its goal."""
        if self.op == ">=":
            return self.value >= self.limit
        if self.op == "<=":
            return self.value <= self.limit
        if self.op == "<":
            return self.value < self.limit
        return self.value == self.limit


@attrs.define
class Result:
    """Everything one benchmark measured."""

    name: str
    title: str
    params: dict[str, Any] = attrs.field(factory=dict)
    figures: dict[str, float] = attrs.field(factory=dict)
    rows: list[Row] = attrs.field(factory=list)
    targets: list[Target] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)

    def add(self, key: str, label: str, value: float, unit: str, note: str = "") -> float:
        """Record a figure under ``key`` and show it in the table as ``label``."""
        self.figures[key] = value
        self.rows.append(Row(label, value, unit, note))
        return value

    def target(self, name: str, value: float, op: str, limit: float) -> None:
        """Record a goal for a figure."""
        self.targets.append(Target(name, value, op, limit))

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-able data (for results.json)."""
        return {
            "title": self.title,
            "params": self.params,
            "figures": self.figures,
            "targets": [
                {"name": t.name, "value": t.value, "op": t.op, "limit": t.limit, "met": t.met}
                for t in self.targets
            ],
            "notes": self.notes,
        }
