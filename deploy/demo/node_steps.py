"""Run several ``manage.py`` commands of one demo node in one Python process.

Each ``manage.py`` start costs a second or two of CPU (Django, the apps, the settings); the demos run
several commands per node, for dozens of nodes. ``federation_demo.py`` hands a node's steps to this
script instead, as one JSON list of argument lists::

    python deploy/demo/node_steps.py '[["seed_demo"], ["node_init", "--json"]]'

Each step is a management command and its arguments, run in order with the node's environment (its data
dir, node id and role), except ``["sampledata", ...]``, which runs ``python -m catalog.sampledata ...``.
After each step one JSON line goes to standard output: ``{"step": i, "seconds": s, "stdout": "..."}``.
The first step that fails ends the run with exit code 3 and the line ``{"step": i, "error": "..."}``
(the steps before it are done; the demo retries from there when another process held the database).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(steps: list[list[str]]) -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from catalog import sampledata

    out = sys.stdout
    for index, step in enumerate(steps):
        started = time.monotonic()
        captured = io.StringIO()
        try:
            with contextlib.redirect_stdout(captured):
                if step[0] == "sampledata":
                    code = sampledata.main(step[1:])
                    if code:
                        raise RuntimeError(f"sampledata exited with {code}")
                else:
                    call_command(*step, stdout=captured)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported to the demo, which decides
            detail = "".join(traceback.format_exception(exc))
            out.write(json.dumps({"step": index, "error": f"{' '.join(step)}: {exc}\n{detail}",
                                  "stdout": captured.getvalue()}, ensure_ascii=False) + "\n")
            out.flush()
            return 3
        out.write(json.dumps({"step": index, "seconds": round(time.monotonic() - started, 3),
                              "stdout": captured.getvalue()}, ensure_ascii=False) + "\n")
        out.flush()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write(__doc__ or "")
        return 2
    steps = json.loads(argv[0])
    if not isinstance(steps, list) or not all(isinstance(s, list) and s and all(isinstance(a, str) for a in s)
                                              for s in steps):
        sys.stderr.write("steps: a JSON list of non-empty lists of strings\n")
        return 2
    return run(steps)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
