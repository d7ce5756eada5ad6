"""The child process that reads one file for the pre-review: ``python -m catalog.prereview.worker``.

Why a child process: a hostile PDF or Office file can make a parser spin (deeply nested or cyclic
objects, huge content streams, inflation inside a C library) in code that no thread or signal in the
worker's own process can interrupt, and can grow its memory. A child is killed on a wall-clock deadline
by its parent (``catalog.prereview.files.extract_file``) and limits itself here before reading a byte:
address space and CPU seconds (``resource.setrlimit``). Nothing but the one file is read; no database,
no network, no Django settings.

Protocol: one JSON object on stdin — ``{"path", "mime", "name", "limits", "memory_bytes", "cpu_seconds"}`` —
and the ``Extraction`` as one JSON object on stdout.
"""

from __future__ import annotations

import json
import resource
import sys


def _limit(kind: int, value: int) -> None:
    if value <= 0:
        return
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, hard))


def main() -> int:
    request = json.loads(sys.stdin.read(1024 * 1024))
    _limit(resource.RLIMIT_AS, int(request.get("memory_bytes") or 0))
    _limit(resource.RLIMIT_CPU, int(request.get("cpu_seconds") or 0))
    from catalog.prereview.extraction import ExtractionLimits, extract

    try:
        result = extract(request["path"], mime=request["mime"], name=request["name"],
                         limits=ExtractionLimits.from_dict(request["limits"]))
        out = result.to_dict()
    except MemoryError:
        out = {"text": "", "truncated": False, "flags": [], "error": "too_large", "error_detail": "memory"}
    sys.stdout.write(json.dumps(out, ensure_ascii=False))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
