"""Bulk import throughput: records/s of import_corpus for N sample records, with and without
placeholder files, and the cost of re-running it (idempotence check path)."""

from __future__ import annotations

import argparse
import json
import time

from _setup import fresh_node


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--out", default="bench/results/import.json")
    args = parser.parse_args()
    fresh_node("bench-import-")
    from catalog.importer import import_records
    from catalog.sampledata import generate

    lines = [json.dumps(r, ensure_ascii=False) for r in generate(args.n, seed=20240901)]
    with_files_n = min(args.n, 5000)
    started = time.perf_counter()
    import_records(lines[:with_files_n], with_files=True, placeholder_files=True, index=False)
    with_files_rate = with_files_n / (time.perf_counter() - started)
    started = time.perf_counter()
    report = import_records(lines[with_files_n:], with_files=False, index=False)
    rest = args.n - with_files_n
    metadata_rate = rest / (time.perf_counter() - started) if rest else float("nan")
    started = time.perf_counter()
    again = import_records(lines, with_files=False, index=False)
    rerun_rate = args.n / (time.perf_counter() - started)
    assert again.created == 0 and report.errors == []
    result = {
        "n": args.n,
        "import_with_placeholder_files_rec_per_s": round(with_files_rate, 1),
        "import_metadata_only_rec_per_s": round(metadata_rate, 1),
        "rerun_idempotent_rec_per_s": round(rerun_rate, 1),
        "ratio_metadata_only_vs_with_files": round(metadata_rate / with_files_rate, 2),
        "note": "no search indexing (see search bench); SQLite, embedded defaults",
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
