"""The set hierarchy: by stage (学段) and by subject (学科), built from the catalog's vocabulary.

setSpecs use the ASCII codes of the vocabulary (``data.code_en``), because the OAI-PMH setSpec
syntax only allows unreserved URI characters; setNames are the Chinese labels, and each set carries
its English label in an ``oai_dc`` setDescription. The hierarchy::

    stage                              学段 (every record)
    stage:junior_secondary             初中
    stage:junior_secondary:mathematics 初中 数学
    subject                            学科 (every record)
    subject:mathematics                数学

A term without a usable ``code_en`` gets ``u-`` + the hex of its UTF-8 code, which is stable and valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

from catalog.jsonld import TermLabels
from catalog.models import Resource, Term

SPEC_PART = re.compile(r"^[A-Za-z0-9\-_.!~*'()]+$")
SPEC = re.compile(r"^[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*$")


@dataclass(frozen=True)
class OAISet:
    spec: str
    name: str
    name_en: str
    filters: dict[str, str] = field(default_factory=dict)


def slug(term: Term) -> str:
    code_en = str(term.data.get("code_en") or "")
    return code_en if SPEC_PART.match(code_en) else "u-" + term.code.encode("utf-8").hex()


@dataclass
class SetHierarchy:
    """Every set of the repository, and the slugs that name stage and subject terms."""

    sets: list[OAISet]
    stage_slugs: dict[str, str]
    subject_slugs: dict[str, str]

    @property
    def enabled(self) -> bool:
        return bool(self.sets)

    def get(self, spec: str) -> OAISet | None:
        return next((s for s in self.sets if s.spec == spec), None)

    def specs_for(self, resource: Resource) -> list[str]:
        """The most specific sets a record belongs to (membership of their parents is implied)."""
        specs = []
        stage, subject = self.stage_slugs.get(resource.stage), self.subject_slugs.get(resource.subject)
        if stage:
            specs.append(f"stage:{stage}" + (f":{subject}" if subject else ""))
        if subject:
            specs.append(f"subject:{subject}")
        return specs

    @classmethod
    def load(cls, labels: TermLabels) -> SetHierarchy:
        """The hierarchy for the current vocabulary; empty when sets are switched off
        (``OAI_SETS_ENABLED``) or no stage or subject term exists."""
        stages = sorted(
            (t for (v, _), t in labels.terms.items() if v == "stage"), key=lambda t: (t.order, t.code)
        )
        subjects = sorted(
            (t for (v, _), t in labels.terms.items() if v == "subject"), key=lambda t: (t.order, t.code)
        )
        if not settings.OAI_SETS_ENABLED or not (stages or subjects):
            return cls([], {}, {})
        stage_slugs = {t.code: slug(t) for t in stages}
        subject_slugs = {t.code: slug(t) for t in subjects}
        sets: list[OAISet] = []
        if stages:
            sets.append(OAISet("stage", "学段", "Stage of schooling"))
            for stage in stages:
                spec = f"stage:{stage_slugs[stage.code]}"
                sets.append(OAISet(spec, stage.label_zh, stage.label_en, {"stage": stage.code}))
                for subject in subjects:
                    if stage.code in (subject.data.get("stages") or [stage.code]):
                        sets.append(
                            OAISet(
                                f"{spec}:{subject_slugs[subject.code]}",
                                f"{stage.label_zh} {subject.label_zh}",
                                f"{stage.label_en}: {subject.label_en}",
                                {"stage": stage.code, "subject": subject.code},
                            )
                        )
        if subjects:
            sets.append(OAISet("subject", "学科", "Subject"))
            sets.extend(
                OAISet(f"subject:{subject_slugs[s.code]}", s.label_zh, s.label_en, {"subject": s.code})
                for s in subjects
            )
        return cls(sets, stage_slugs, subject_slugs)
