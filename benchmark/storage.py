"""Dataset folders on disk: one parquet file per configuration plus a manifest.

Layout: `DIR/<config>/test-00000-of-00001.parquet` (the `datasets` parquet convention, so that
`datasets.load_dataset("parquet", ...)` and the Hub read it) and `DIR/covip_dataset.json`.
Folders are written under a temporary name and renamed when complete, so a folder that exists
is whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from benchmark.features import features_for

MANIFEST = "covip_dataset.json"
SPLIT_FILE = "test-00000-of-00001.parquet"


def write_config(folder: Path, config: str, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write the rows of one configuration as a parquet file; returns its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features_for(config).arrow_schema
    table = pa.Table.from_pylist(list(rows), schema=schema)
    path = folder / config / SPLIT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, info: Mapping[str, Any]) -> None:
    files = sorted(p for p in folder.glob(f"*/{SPLIT_FILE}"))
    manifest = {
        **info,
        "files": {str(p.relative_to(folder)): file_sha256(p) for p in files},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def content_revision(folder: Path) -> str:
    """A revision id from the bytes of the data files (what a result should be traced to)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.parquet")):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(file_sha256(path).encode())
    return "sha256:" + digest.hexdigest()[:16]


class AtomicFolder:
    """A folder built under a temporary name beside its target and renamed into place on success."""

    def __init__(self, target: Path, overwrite: bool = False):
        self.target, self.overwrite = target, overwrite

    def __enter__(self) -> Path:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", dir=self.target.parent))
        self.tmp.chmod(0o755)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.target.exists():
            if not self.overwrite:
                shutil.rmtree(self.tmp, ignore_errors=True)
                return
            shutil.rmtree(self.target)
        os.replace(self.tmp, self.target)
