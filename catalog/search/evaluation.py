"""Search quality: judged teacher queries and the metrics computed over them.

``catalog/data/judged_queries.json`` holds realistic queries whose relevant documents are defined by
corpus *fields*, not by the search engine: a query lists rules ``{"grade": 2|1, "match": {...}}``
and a document's relevance is the highest grade of a rule it satisfies. In ``match``, ``field: value``
(or a list of values) is an exact field value; ``field~: text`` (or a list) means the field contains
the text, case-insensitively; the pseudo-field ``topic`` is chapter + section.

Metrics (per query, then averaged): nDCG@10 with gain 2^grade − 1 and the ideal ranking taken from
every judged document of the corpus; Recall@50 of the documents with grade ≥ 1, out of at most 50 of
them (capped: at 20,000 resources a chapter-level query has hundreds; the uncapped figure is reported
as ``recall_raw@50``); reciprocal rank of
the first grade-2 document (MRR, over the queries that have one). An unjudged document counts as
grade 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.search.base import SearchBackend, SearchRequest

JUDGED_QUERIES = Path(__file__).resolve().parents[1] / "data" / "judged_queries.json"
# Generated class queries kept out of tuning (catalog.search.judged_classes): a check, never a target.
HELD_OUT_QUERIES = Path(__file__).resolve().parents[1] / "data" / "judged_queries_heldout.json"
NDCG_K = 10
RECALL_K = 50


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _field_text(doc: dict[str, Any], name: str) -> str:
    if name == "topic":
        return f"{doc.get('chapter') or ''} {doc.get('section') or ''}"
    value = doc.get(name)
    return " ".join(value) if isinstance(value, list) else str(value or "")


def matches(doc: dict[str, Any], condition: dict[str, Any]) -> bool:
    """Whether a document satisfies every clause of a rule's ``match``."""
    for key, wanted in condition.items():
        if key.endswith("~"):
            text = _field_text(doc, key[:-1]).lower()
            if not any(w.lower() in text for w in _as_list(wanted)):
                return False
        elif str(doc.get(key) or "") not in _as_list(wanted):
            return False
    return True


@dataclass(frozen=True)
class JudgedQuery:
    id: str
    q: str
    rules: tuple[tuple[int, dict[str, Any]], ...]
    note: str = ""
    kind: str = "hand"  # hand-written, or the generated class (typo, rephrase, partial: judged_classes)

    def grade(self, doc: dict[str, Any]) -> int:
        """The relevance of ``doc`` to this query: the highest grade of a rule it satisfies, else 0."""
        return max((g for g, condition in self.rules if matches(doc, condition)), default=0)


def load_judged_queries(path: Path = JUDGED_QUERIES) -> list[JudgedQuery]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        JudgedQuery(id=item["id"], q=item["q"], note=item.get("note", ""), kind=item.get("class", "hand"),
                    rules=tuple((int(rule["grade"]), dict(rule["match"])) for rule in item["relevant"]))
        for item in data["queries"]
    ]


def dcg(grades: Sequence[int], k: int) -> float:
    return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(grades[:k]))


def ndcg_at(ranked_grades: Sequence[int], judged_grades: Iterable[int], k: int = NDCG_K) -> float:
    """nDCG@k of a ranking (grades in rank order) against every judged grade of the corpus."""
    ideal = dcg(sorted((g for g in judged_grades if g > 0), reverse=True), k)
    return dcg(ranked_grades, k) / ideal if ideal else 0.0


def recall_at(ranked_ids: Sequence[str], relevant_ids: set[str], k: int = RECALL_K, *, capped: bool = True) -> float:
    """Recall of the first ``k`` results. ``capped`` (the reported figure): out of at most ``k``
    relevant documents, so a query with hundreds of relevant documents can reach 1 (BEIR's
    "R_cap"); else out of every relevant document."""
    if not relevant_ids:
        return 0.0
    return len(set(ranked_ids[:k]) & relevant_ids) / (min(len(relevant_ids), k) if capped else len(relevant_ids))


def reciprocal_rank(ranked_grades: Sequence[int], *, min_grade: int = 2) -> float:
    return next((1 / (i + 1) for i, g in enumerate(ranked_grades) if g >= min_grade), 0.0)


@dataclass
class QueryResult:
    query: JudgedQuery
    relevant: int  # documents with grade ≥ 1 in the corpus
    highly_relevant: int  # grade 2
    ndcg: float
    recall: float  # capped at RECALL_K relevant documents
    rr: float
    top: list[str] = field(default_factory=list)  # titles of the first results
    returned: int = 0  # results the search returned (its count)
    recall_raw: float = 0.0  # out of every relevant document


@dataclass
class EvaluationReport:
    backend: str
    documents: int
    results: list[QueryResult]

    def mean(self, metric: str) -> float:
        """Mean over the queries the metric is defined for: with a relevant document (nDCG, recall),
        with a grade-2 document (reciprocal rank)."""
        scored = [getattr(r, metric) for r in self.results if (r.highly_relevant if metric == "rr" else r.relevant)]
        return sum(scored) / len(scored) if scored else 0.0

    def zero_result(self) -> list[str]:
        """Ids of the queries that returned nothing although the corpus has relevant documents."""
        return [r.query.id for r in self.results if r.relevant and not r.returned]

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "backend": self.backend, "documents": self.documents,
            "queries": sum(1 for r in self.results if r.relevant),
            "ndcg@10": round(self.mean("ndcg"), 4), "recall@50": round(self.mean("recall"), 4),
            "mrr": round(self.mean("rr"), 4), "recall_raw@50": round(self.mean("recall_raw"), 4),
            "zero_result_queries": self.zero_result(),
        }
        kinds = sorted({r.query.kind for r in self.results})
        if len(kinds) > 1:
            out["by_class"] = {kind: EvaluationReport(self.backend, self.documents, [
                r for r in self.results if r.query.kind == kind]).summary() for kind in kinds}
            for figures in out["by_class"].values():
                del figures["backend"], figures["documents"]
        return out


def ranked_ids(backend: SearchBackend, q: str, depth: int = RECALL_K) -> tuple[list[tuple[str, str]], int]:
    """(id, title) of the first ``depth`` results of ``q`` (no facets, no highlights), and the count."""
    out: list[tuple[str, str]] = []
    size = min(depth, 100)
    page, count = 1, 0
    while len(out) < depth:
        result = backend.search(SearchRequest(q=q, page=page, page_size=size, with_facets=False,
                                              with_highlight=False))
        count = result.count
        out.extend((h["id"], h["title"]) for h in result.hits)
        if len(result.hits) < size:
            break
        page += 1
    return out[:depth], count


def evaluate(backend: SearchBackend, queries: Sequence[JudgedQuery], docs: Sequence[dict[str, Any]],
             *, depth: int = RECALL_K) -> EvaluationReport:
    """Run every judged query against ``backend`` (which must hold ``docs``) and score it. Queries
    with no relevant document in ``docs`` are reported but left out of the means."""
    results = []
    for query in queries:
        grades = {d["id"]: query.grade(d) for d in docs}
        relevant = {i for i, g in grades.items() if g > 0}
        ranking, returned = ranked_ids(backend, query.q, depth)
        ranked_grades = [grades.get(i, 0) for i, _ in ranking]
        results.append(QueryResult(
            query=query, relevant=len(relevant), highly_relevant=sum(1 for g in grades.values() if g == 2),
            ndcg=ndcg_at(ranked_grades, grades.values()), recall=recall_at([i for i, _ in ranking], relevant),
            rr=reciprocal_rank(ranked_grades), top=[t for _, t in ranking[:3]], returned=returned,
            recall_raw=recall_at([i for i, _ in ranking], relevant, capped=False),
        ))
    return EvaluationReport(backend=backend.name, documents=len(docs), results=results)
