"""The metadata obligations table (``catalog/data/metadata_obligations.json``): per element, M (mandatory),
O (optional, some of them recommended) or C (conditional: mandatory when its condition holds), in the manner
of GB/T 41469-2022's tables. The table is data; this module reads it and says which elements are missing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).resolve().parent.parent / "data" / "metadata_obligations.json"


@dataclass(frozen=True)
class Obligation:
    element: str
    obligation: str  # "M", "O" or "C"
    recommended: bool = False
    when: dict[str, Any] = field(default_factory=dict)
    condition: dict[str, str] = field(default_factory=dict)
    label: dict[str, str] = field(default_factory=dict)

    def applies(self, values: dict[str, Any]) -> bool:
        """Whether the element is mandatory for a record with these ``values``."""
        if self.obligation == "M":
            return True
        if self.obligation != "C":
            return False
        for name, allowed in (self.when.get("in") or {}).items():
            if values.get(name) not in allowed:
                return False
        present_any = self.when.get("present_any")
        return not (present_any and not any(_present(values.get(name)) for name in present_any))


def _present(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple)):
        return any(_present(v) for v in value)
    return value is not None


@cache
def obligations() -> tuple[Obligation, ...]:
    data = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return tuple(Obligation(element=row["element"], obligation=row["obligation"],
                            recommended=bool(row.get("recommended")), when=row.get("when") or {},
                            condition=row.get("condition") or {}, label=row.get("label") or {})
                 for row in data["elements"])


@dataclass(frozen=True)
class Gap:
    obligation: Obligation
    mandatory: bool  # False: an empty recommended element


def gaps(values: dict[str, Any]) -> list[Gap]:
    """The elements a record with ``values`` (element name → value, ``rights.holder`` style for the
    rights) lacks: mandatory ones (M, or C whose condition holds) and recommended optional ones."""
    out = []
    for row in obligations():
        if _present(values.get(row.element)):
            continue
        if row.applies(values):
            out.append(Gap(row, mandatory=True))
        elif row.obligation == "O" and row.recommended:
            out.append(Gap(row, mandatory=False))
    return out
