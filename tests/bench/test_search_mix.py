"""The query mix of the search API benchmark (``bench/_search_mix.py``, ``bench/search_api_bench.py``): a
pool of distinct requests made from the node's own topics, a seeded Zipf-like sequence, honest repeat
shares, and wrk threads that walk the sequence in order instead of each sending it from the start."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import _search_mix as mix  # noqa: E402

BOOKS = [
    mix.Book("初中", "物理", "人教版", "九年级", "全一册", "第十四章 内能的利用", "第1节 热机", "习题"),
    mix.Book("初中", "物理", "人教版", "八年级", "下册", "第七章 力", "第3节 重力", "课件"),
    mix.Book("初中", "数学", "人教版", "七年级", "上册", "第一章 有理数", "1.2 有理数", "教案"),
    mix.Book("初中", "数学", "人教版", "八年级", "上册", "第十二章 全等三角形", "12.3 角的平分线的性质", "试卷"),
    mix.Book("高中", "生物学", "人教版", "", "必修1 分子与细胞", "第6章 细胞的生命历程", "第1节 细胞的增殖", "课件"),
    mix.Book("小学", "数学", "人教版", "五年级", "上册", "第五单元 简易方程", "", "试卷"),
    mix.Book("初中", "英语", "外研版", "七年级", "上册", "Unit 3 Family", "", "课件"),
    mix.Book("初中", "生物学", "人教版", "七年级", "上册", "第三单元 第三章 绿色植物与生物圈的水循环", "", "学案"),
]


@pytest.mark.parametrize(("name", "topic"), [
    ("第十四章 内能的利用", "内能的利用"), ("第1节 热机", "热机"), ("第五单元 简易方程", "简易方程"),
    ("12.3 角的平分线的性质", "角的平分线的性质"), ("Unit 3 Family", "Family"), ("课题3 利用化学方程式的简单计算",
                                                                            "利用化学方程式的简单计算"),
    ("第三单元 第三章 绿色植物与生物圈的水循环", "绿色植物与生物圈的水循环"), ("勾股定理", "勾股定理"), ("", ""),
])
def test_a_topic_is_the_chapter_or_section_name_without_its_number(name, topic):
    assert mix.topic_of(name) == topic


def test_the_pool_is_distinct_made_of_the_nodes_topics_and_textbooks_and_fixed_by_the_seed():
    pool = mix.build_pool(BOOKS, 400, seed=3)
    assert len(pool.paths) == len(set(pool.paths)) == 400
    assert mix.build_pool(BOOKS, 400, seed=3).paths == pool.paths
    assert mix.build_pool(BOOKS, 400, seed=4).paths != pool.paths
    assert set(pool.kinds) == set(mix.KINDS)
    topics = {mix.topic_of(n) for b in BOOKS for n in (b.chapter, b.section)} - {""}
    for path, kind in zip(pool.paths, pool.kinds, strict=True):
        assert path.startswith(mix.SEARCH_PATH)
        params = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        for field in ("stage", "subject", "edition", "grade", "volume", "resource_type"):
            if field in params:
                assert params[field] in {getattr(b, field) for b in BOOKS}, (path, field)
        if kind == "browse":
            assert "q" not in params and params["sort"] in mix.SORTS
            assert 1 <= len(params) - 1 <= 5, path
        elif kind == "book":  # textbook words only: no topic, a type or occasion word at the end
            assert not any(t in params["q"] for t in topics) and params["q"].endswith(mix.WORDS), path
        elif kind != "typo":
            assert any(t in params["q"] for t in topics), path  # a topic as the node names it
            assert "第" not in params["q"] and "Unit" not in params["q"], path  # without its number


def test_a_typo_changes_one_character_to_a_homophone_from_the_nodes_own_topics():
    from pypinyin import Style, lazy_pinyin

    generator = mix.Generator(BOOKS, random.Random(1))
    chars = {c for b in BOOKS for n in (b.chapter, b.section) for c in mix.topic_of(n)}
    # 利 (li) has homophones among the topics above (力, 理, 历); no other character of 内能的利用 has one
    seen = set()
    for _ in range(30):
        typo = generator.misspell("内能的利用")
        changed = [(a, b) for a, b in zip("内能的利用", typo, strict=True) if a != b]
        assert len(changed) == 1, typo
        (was, now), = changed
        assert was == "利" and now in chars and lazy_pinyin(now, style=Style.NORMAL) == ["li"], typo
        seen.add(typo)
    assert seen == {"内能的力用", "内能的理用", "内能的历用"}


def test_the_sequence_favours_low_ranks_and_the_repeat_shares_count_what_came_before():
    ranks = mix.zipf_sequence(1000, 20000, s=1.0, seed=5)
    assert ranks == mix.zipf_sequence(1000, 20000, s=1.0, seed=5)
    counts = Counter(ranks)
    assert counts[0] > counts[1] > counts[9] > counts[99]
    assert all(0 <= r < 1000 for r in ranks)
    assert mix.repeats([4, 1, 4, 2, 1]) == {"requests": 5, "distinct": 3, "repeat_share": 0.4}
    assert mix.window_repeat_share([4, 1, 4, 2, 1], 2, 2) == 0.5  # 4 was asked before, 2 not
    assert mix.window_repeat_share([4, 1, 4, 2, 1], 3, 4) == 0.75  # 2 new; 1, then 4 and 1 again (cycled)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk (Debian package wrk) is not installed")
def test_wrk_threads_walk_the_sequence_together_from_the_given_start(tmp_path):
    got: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            got.append(int(parse_qs(urlsplit(self.path).query)["n"][0]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        paths = [f"/api/v1/search?q=x&n={i}" for i in range(20000)]
        listing = tmp_path / "paths.txt"
        listing.write_text("\n".join(paths) + "\n")
        code = ("import sys; sys.path.insert(0, 'bench'); import search_api_bench as b; "
                "print(b.WRK_MIX_SCRIPT + b.WRK_DONE)")
        lua = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                             timeout=120).stdout
        script = tmp_path / "mix.lua"
        script.write_text(lua.replace("PATHS_FILE", json.dumps(str(listing))))
        out = subprocess.run(["wrk", "-t2", "-c2", "-d2s", "-s", str(script), f"http://127.0.0.1:{server.server_port}",
                              "--", "19900", "2"], capture_output=True, text=True, check=True, timeout=60).stdout
    finally:
        server.shutdown()
    assert "WRK_JSON" in out
    assert len(got) > 50
    # nothing sent twice (the threads do not each start from the same place) and every request from the
    # window that starts at 19900, wrapping round to the start of the list
    assert len(got) == len(set(got))
    window = {(19900 + k) % 20000 for k in range(len(got) + 200)}
    assert set(got) <= window
    assert {19901, 19902, 19903} <= set(got)  # both threads began at the start (thread 0's first is wrk's probe)
