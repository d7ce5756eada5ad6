"""The load benchmark with the province's search on the embedded index (SQLite FTS5) instead of the
Elasticsearch API: noida-db, the stand-in this machine has for Elasticsearch, spends most of the stack's CPU in
``load`` (see its CPU per process), so this variant shows what gunicorn, PostgreSQL and the product cost."""

import sys

from load_bench import main

if __name__ == "__main__":
    sys.exit(main([*sys.argv[1:], "--search", "embedded"]))
