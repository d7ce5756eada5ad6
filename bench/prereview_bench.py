"""Pre-review at catalog scale: near-identical-text lookups stay cheap with N fingerprinted files, and a
negative-list re-check works through published resources from stored text.

* fingerprints: N files' MinHash signatures and LSH bands in the database (random signatures stand for
  distinct texts; 50 real texts and an edited copy of each are planted), then ``similar_texts`` for the
  edited copies: latency per lookup and how many planted originals it finds (recall);
* fingerprinting one text of 20,000 and of 200,000 characters;
* re-check: ``--recheck-n`` published resources whose files' text is stored, one new term, ``recheck_drain``.

    python bench/prereview_bench.py --n 100000 --out bench/results/prereview.json
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import time
import uuid
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import fresh_node, percentile  # noqa: E402

SENTENCES = ["有理数是整数与分数的统称", "数轴是规定了原点、正方向和单位长度的直线", "只有符号不同的两个数叫做互为相反数",
             "一个数在数轴上所对应的点与原点的距离叫做该数的绝对值", "两个负数比较大小，绝对值大的反而小",
             "光合作用把二氧化碳和水合成有机物", "细胞是生物体结构和功能的基本单位", "力是物体对物体的作用",
             "函数的图像可以直观地表示变量之间的关系", "全等三角形的对应边相等，对应角相等"]


def text_of(rng: random.Random, chars: int) -> str:
    parts, size = [], 0
    while size < chars:
        sentence = rng.choice(SENTENCES) + f"（{rng.randrange(10_000)}）。"
        parts.append(sentence)
        size += len(sentence)
    return "".join(parts)[:chars]


def edited(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(len(chars) // 300):  # a few words changed: about 0.3 % of the characters
        chars[rng.randrange(len(chars))] = "改"
    return "".join(chars)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--recheck-n", type=int, default=10_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    fresh_node("bench-prereview-")
    from django.db import connection, transaction
    from django.utils import timezone

    from catalog.models import ExtractedText, FingerprintBand
    from catalog.prereview.files import similar_texts
    from catalog.prereview.fingerprints import BINS, Fingerprint, fingerprint
    from catalog.prereview.matching import fold

    rng = random.Random(20241)
    now = timezone.now()
    figures: dict[str, object] = {"n": args.n}

    # -- fingerprints of N files ------------------------------------------------------------------
    planted = [text_of(rng, 3000) for _ in range(50)]
    started = time.perf_counter()
    batch_rows, batch_bands = [], []

    def flush() -> None:
        with transaction.atomic():
            ExtractedText.objects.bulk_create(batch_rows, batch_size=2000)
            FingerprintBand.objects.bulk_create(batch_bands, batch_size=5000)
        batch_rows.clear()
        batch_bands.clear()

    for i in range(args.n):
        sha = f"{i:064x}"
        if i < len(planted):
            print_ = fingerprint(fold(planted[i]))
        else:
            print_ = Fingerprint(tuple(rng.getrandbits(58) for _ in range(BINS)), 1000)
        batch_rows.append(ExtractedText(sha256=sha, status="ok", text=b"", chars=3000, signature=print_.to_bytes(),
                                        shingles=print_.shingles, extracted_at=now))
        batch_bands += [FingerprintBand(sha256=sha, key=key) for key in print_.band_keys()]
        if len(batch_rows) >= 5000:
            flush()
    flush()
    figures["store_seconds"] = round(time.perf_counter() - started, 1)
    figures["band_rows"] = FingerprintBand.objects.count()

    lookups, found = [], 0
    for i, original in enumerate(planted):
        query = fingerprint(fold(edited(rng, original)))
        began = time.perf_counter()
        hits = similar_texts(query, exclude_sha256="f" * 64)
        lookups.append(time.perf_counter() - began)
        found += int(any(sha == f"{i:064x}" for sha, _ in hits))
    figures["lookup_ms_p50"] = round(percentile(lookups, 50) * 1000, 2)
    figures["lookup_ms_p95"] = round(percentile(lookups, 95) * 1000, 2)
    figures["recall_edited_copies"] = f"{found}/{len(planted)}"

    for chars in (20_000, 200_000):
        text = fold(text_of(rng, chars))
        began = time.perf_counter()
        fingerprint(text)
        figures[f"fingerprint_ms_{chars}_chars"] = round((time.perf_counter() - began) * 1000, 1)

    # -- re-check of published resources from stored text -----------------------------------------
    from catalog.models import Resource, ResourceFile, RightsStatement
    from catalog.prereview.services import negative_term_create, recheck_drain
    from exchange.models import Organisation, User
    from exchange.roles import Role
    from exchange.services import organisation_create, user_create

    publisher = organisation_create(name="基准出版社", kind=Organisation.Kind.PUBLISHER, region="440000")
    bureau = organisation_create(name="基准教育厅", kind=Organisation.Kind.BUREAU, region="440000")
    admin: User = user_create(username="bench-admin", password=secrets.token_urlsafe(16), organisation=bureau,
                              roles=[Role.PROVINCE_ADMIN])
    resources, files, rights, texts = [], [], [], []
    for i in range(args.recheck_n):
        pk = uuid.uuid4()
        sha = f"{args.n + i:064x}"
        body = text_of(rng, 3000) + ("新禁语" if i % 1000 == 0 else "")
        resources.append(Resource(id=pk, record_id=pk, origin_node="cn-44", status="published", title=f"资源 {i}",
                                  stage="初中", subject="数学", resource_type="课件", publisher=publisher,
                                  publisher_name=publisher.name, province="440000", created_at=now, updated_at=now,
                                  published_at=now))
        rights.append(RightsStatement(resource_id=pk, holder=publisher.name, year=2024, license_id="CC-BY-4.0"))
        files.append(ResourceFile(resource_id=pk, original_name="a.pdf", sha256=sha, size=1000,
                                  mime="application/pdf", storage_key=f"sha256/{sha}"))
        texts.append(ExtractedText(sha256=sha, status="ok", text=zlib.compress(body.encode()), chars=len(body),
                                   extracted_at=now))
    with transaction.atomic():
        Resource.objects.bulk_create(resources, batch_size=2000)
        RightsStatement.objects.bulk_create(rights, batch_size=2000)
        ResourceFile.objects.bulk_create(files, batch_size=2000)
        ExtractedText.objects.bulk_create(texts, batch_size=2000)
    began = time.perf_counter()
    with transaction.atomic():  # the re-check job runs after this commit (in-process jobs)
        negative_term_create(actor=admin, scope="local", term="新禁语")
    while recheck_drain()["batches"]:
        pass
    seconds = time.perf_counter() - began
    from catalog.models import RecheckRun

    run = RecheckRun.objects.get()
    figures["recheck_resources"] = run.scanned
    figures["recheck_matched"] = run.matched
    figures["recheck_seconds"] = round(seconds, 1)
    figures["recheck_resources_per_second"] = round(run.scanned / seconds, 1) if seconds else None
    figures["database"] = connection.vendor
    print(json.dumps(figures, ensure_ascii=False, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
