"""``manage.py search_eval``: relevance of the search backends on the judged query set."""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.sampledata import DEFAULT_SEED, generate
from catalog.search.base import SearchBackend
from catalog.search.documents import record_document
from catalog.search.evaluation import (
    HELD_OUT_QUERIES,
    JUDGED_QUERIES,
    EvaluationReport,
    evaluate,
    load_judged_queries,
)


class Command(BaseCommand):
    help = ("Index a generated sample corpus into a throw-away index of each backend and report nDCG@10, "
            "Recall@50 and MRR over catalog/data/judged_queries.json. The live index is not touched.")

    def add_arguments(self, parser):
        parser.add_argument("--backend", action="append", choices=["embedded", "elasticsearch"],
                            help="Backend to evaluate (repeatable). Default: embedded, plus elasticsearch "
                                 "when ELASTICSEARCH_URL is set.")
        parser.add_argument("--n", type=int, default=5000, help="Corpus size (catalog.sampledata records)")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
        parser.add_argument("--es-url", default="", help="Elasticsearch URL (default: ELASTICSEARCH_URL)")
        parser.add_argument("--per-query", action="store_true", help="Print the metrics of every query")
        parser.add_argument("--json", dest="json_out", default="", help="Also write the figures to this file")
        parser.add_argument("--queries", default="", help="Judged queries file (default: the project's judged "
                            "set; 'held-out' for the generated class queries kept out of tuning)")
        parser.add_argument("--corpus", default="", help="Index this JSONL corpus (corpus generator format) "
                            "instead of --n generated sample records")

    def handle(self, *args, backend, n, seed, es_url, per_query, json_out, queries, corpus, **options):
        es_url = es_url or settings.ELASTICSEARCH_URL
        names = backend or (["embedded", "elasticsearch"] if es_url else ["embedded"])
        if "elasticsearch" in names and not es_url:
            raise CommandError("elasticsearch needs ELASTICSEARCH_URL or --es-url")
        if n < 1:
            raise CommandError("--n must be at least 1")
        if corpus:
            with open(corpus, encoding="utf-8") as lines:
                records = [json.loads(line) for line in lines if line.strip()]
        else:
            records = list(generate(n, seed=seed))
        docs = [record_document(r, origin_node=settings.EXCHANGE_NODE_ID) for r in records]
        path = HELD_OUT_QUERIES if queries == "held-out" else (Path(queries) if queries else JUDGED_QUERIES)
        judged = load_judged_queries(path)
        summaries = []
        for name in names:
            report = self._run(name, docs, judged, es_url)
            summaries.append(report.summary())
            self._print(report, per_query)
        if json_out:
            with open(json_out, "w", encoding="utf-8") as out:
                json.dump({"n": len(docs), "seed": seed, "corpus": corpus or "catalog.sampledata", "queries": str(path.name),
                           "results": summaries}, out, ensure_ascii=False, indent=2)

    def _run(self, name: str, docs: list[dict], queries, es_url: str) -> EvaluationReport:
        with tempfile.TemporaryDirectory(prefix="search-eval-") as root:
            target: SearchBackend
            if name == "embedded":
                from catalog.search.embedded import EmbeddedBackend

                target = EmbeddedBackend(root)
            else:
                from catalog.search.elastic import ElasticsearchBackend

                target = ElasticsearchBackend(es_url, f"search-eval-{secrets.token_hex(4)}")
            build = target.begin_rebuild()
            for start in range(0, len(docs), 1000):
                build.index_documents(docs[start:start + 1000])
            build.swap()
            try:
                return evaluate(target, queries, docs)
            finally:
                target.drop()

    def _print(self, report: EvaluationReport, per_query: bool) -> None:
        if per_query:
            for r in report.results:
                self.stdout.write(f"  {r.query.id:36} rel={r.relevant:4d} found={r.returned:5d} ndcg@10={r.ndcg:.3f} "
                                  f"recall@50={r.recall:.3f} rr={r.rr:.3f}  {r.query.q}")
        s = report.summary()
        for kind, figures in s.get("by_class", {}).items():
            self.stdout.write(f"  {kind:12} queries={figures['queries']:3d}  nDCG@10={figures['ndcg@10']:.4f}  "
                              f"Recall@50={figures['recall@50']:.4f}  zero-result={len(figures['zero_result_queries'])}")
        self.stdout.write(self.style.SUCCESS(
            f"{s['backend']:14} n={s['documents']} queries={s['queries']}  nDCG@10={s['ndcg@10']:.4f}  "
            f"Recall@50={s['recall@50']:.4f}  MRR={s['mrr']:.4f}  zero-result={len(s['zero_result_queries'])}"
            + (f" ({', '.join(s['zero_result_queries'])})" if s["zero_result_queries"] else "")))
