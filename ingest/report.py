"""The report an import ends with: per kind of thing, created / updated / skipped / failed, with reasons.

The same report is printed by the commands (also with ``--dry-run``) and kept
on an ``ImportRun`` for the admin. It holds no timings, so a dry run and the
real run of the same file give the same report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Failures listed one by one (the counts cover them all).
MAX_LISTED_FAILURES = 50
SECTION_ORDER = ("personality", "knowledge", "profile", "memories")


@dataclass
class Section:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped += count
            self.reasons[f"skipped: {reason}"] += count

    def fail(self, reason: str, count: int = 1) -> None:
        if count:
            self.failed += count
            self.reasons[f"failed: {reason}"] += count

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
            "reasons": dict(sorted(self.reasons.items())),
            "details": list(self.details),
        }


@dataclass
class ImportReport:
    kind: str  # "shapes" or "chat"
    source: str
    user_id: str
    dry_run: bool = False
    personality: str = ""
    sections: dict[str, Section] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, name: str) -> Section:
        return self.sections.setdefault(name, Section())

    def record_failure(self, section: str, where: str, reason: str) -> None:
        """A record that could not be imported (the rest are): counted, and listed up to a limit."""
        self.section(section).fail(reason)
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"section": section, "where": where, "reason": reason})

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "user_id": self.user_id,
            "personality": self.personality,
            "dry_run": self.dry_run,
            "sections": {name: self.sections[name].as_dict() for name in self._ordered()},
            "failures": list(self.failures),
            "notes": list(self.notes),
        }

    def _ordered(self) -> list[str]:
        known = [name for name in SECTION_ORDER if name in self.sections]
        return known + sorted(name for name in self.sections if name not in SECTION_ORDER)

    def lines(self) -> list[str]:
        """The report as text, one line each (what the commands print)."""
        title = "Shapes.inc backup" if self.kind == "shapes" else "Chat history"
        out = [f"{title} {self.source} → personality '{self.personality}', user {self.user_id}"]
        for name in self._ordered():
            section = self.sections[name]
            out.append(
                f"{name:<12} created {section.created}, updated {section.updated}, "
                f"skipped {section.skipped}, failed {section.failed}"
            )
            out.extend(f"{'':<12}   {detail}" for detail in section.details)
            out.extend(f"{'':<12}   {reason}: {count}" for reason, count in sorted(section.reasons.items()))
        for failure in self.failures:
            out.append(f"failed: {failure['section']} {failure['where']}: {failure['reason']}")
        listed = sum(section.failed for section in self.sections.values())
        if listed > len(self.failures):
            out.append(f"(and {listed - len(self.failures)} more failures, not listed)")
        out.extend(f"note: {note}" for note in self.notes)
        if self.dry_run:
            out.append("dry run: nothing was written")
        return out

    def text(self) -> str:
        return "\n".join(self.lines())
