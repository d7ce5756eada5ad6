"""Content-addressed blob storage: a local directory by default, S3 (boto3) when a bucket is set.

Keys are ``sha256/ab/cd/<hex digest>``, so the same bytes are stored once and a key never changes
meaning. Writes are atomic (temp file + rename locally; a single PUT on S3).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import IO, Protocol

from django.conf import settings
from django.utils.module_loading import import_string


def blob_key(sha256_hex: str) -> str:
    return f"sha256/{sha256_hex[:2]}/{sha256_hex[2:4]}/{sha256_hex}"


class BlobStore(Protocol):
    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, path: str, *, content_type: str) -> bool:
        """Store the file at ``path`` under ``key``; return True when it was newly written."""

    def open(self, key: str) -> IO[bytes]: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None: ...

    def iter_keys(self, prefix: str = "sha256/") -> Iterator[tuple[str, float]]:
        """Yield (key, modified unix time) of every object under ``prefix`` (a folder: ``sha256/`` holds
        the blobs, ``previews/`` their renditions)."""

    def presigned_url(self, key: str, *, filename: str, content_type: str, expires: int) -> str | None:
        """A direct URL a client can fetch, or None when the node must serve the bytes itself."""

    def ping(self) -> None: ...

    def ensure(self) -> bool:
        """Create what the store needs (the S3 bucket) when it is missing; True when something was made."""


class LocalBlobStore:
    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root or settings.CATALOG_BLOB_ROOT)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"Unsafe blob key {key!r}")
        return self.root / key

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def put_file(self, key: str, path: str, *, content_type: str) -> bool:
        target = self.path(key)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def open(self, key: str) -> IO[bytes]:
        return open(self.path(key), "rb")

    def size(self, key: str) -> int:
        return self.path(key).stat().st_size

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def iter_keys(self, prefix: str = "sha256/") -> Iterator[tuple[str, float]]:
        base = self.root / prefix.strip("/")
        if not base.exists():
            return
        for path in base.rglob("*"):
            if path.is_file() and not path.name.startswith(".incoming-"):
                yield path.relative_to(self.root).as_posix(), path.stat().st_mtime

    def presigned_url(self, key: str, *, filename: str, content_type: str, expires: int) -> str | None:
        return None

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise OSError(f"blob root {self.root} is not writable")

    def ensure(self) -> bool:
        """The directory exists (made by the constructor); nothing to create."""
        self.ping()
        return False


class S3BlobStore:
    """The node talks to the store at ``S3_ENDPOINT_URL`` (an internal address such as ``http://minio:9000``);
    download links are presigned for ``S3_PUBLIC_ENDPOINT_URL``, the address browsers reach (a presigned
    URL's signature covers its host, so the link cannot be rewritten afterwards)."""

    def __init__(self) -> None:
        self.bucket = settings.S3_BUCKET
        internal = settings.S3_ENDPOINT_URL or None
        public = getattr(settings, "S3_PUBLIC_ENDPOINT_URL", "") or internal
        self.client = self._client(internal)
        self.presign_client = self.client if public == internal else self._client(public)

    @staticmethod
    def _client(endpoint_url: str | None):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=settings.S3_REGION,
            aws_access_key_id=settings.S3_ACCESS_KEY_ID or None,
            aws_secret_access_key=settings.S3_SECRET_ACCESS_KEY or None,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"},
                          s3={"addressing_style": "path"}),
        )

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise

    def put_file(self, key: str, path: str, *, content_type: str) -> bool:
        if self.exists(key):
            return False
        self.client.upload_file(path, self.bucket, key, ExtraArgs={"ContentType": content_type})
        return True

    def open(self, key: str) -> IO[bytes]:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]

    def open_range(self, key: str, start: int, end: int) -> IO[bytes]:
        return self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end}")["Body"]

    def size(self, key: str) -> int:
        return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def iter_keys(self, prefix: str = "sha256/") -> Iterator[tuple[str, float]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"].timestamp()

    def presigned_url(self, key: str, *, filename: str, content_type: str, expires: int) -> str | None:
        from urllib.parse import quote

        return self.presign_client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            },
            ExpiresIn=expires,
        )

    def ping(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def ensure(self) -> bool:
        """Create the bucket when it does not exist; True when it was created."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
                raise
        options = {}
        if settings.S3_REGION and settings.S3_REGION != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": settings.S3_REGION}
        self.client.create_bucket(Bucket=self.bucket, **options)
        return True


@cache
def _store_for(path: str) -> BlobStore:
    return import_string(path)()


def get_blob_store() -> BlobStore:
    return _store_for(settings.CATALOG_BLOB_STORE)


def reset_blob_store_cache() -> None:
    _store_for.cache_clear()


def check_storage() -> None:
    get_blob_store().ping()
