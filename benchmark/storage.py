"""Dataset folders on disk: one parquet file per configuration plus a manifest.

Layout: `DIR/<config>/test-0000i-of-0000n.parquet` and `DIR/covip_dataset.json`. Files are laid
out as `datasets` lays out what it pushes to the Hub, so that `datasets.load_dataset` and the
Hub's viewer read them well: a configuration is split into shards of at most 500 MB, and row
groups hold at most 100 rows (`datasets`' size for image datasets) and 100 MB, so reading one
sample, or one image again, reads one small group.
Folders are written under a temporary name and renamed when complete, so a folder that exists
is whole.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmark.features import CONFIGS, features_for

MANIFEST = "covip_dataset.json"
SPLIT_GLOB = "test-*.parquet"
MAX_SHARD_BYTES = 500 * 10**6  # datasets' default max_shard_size for push_to_hub
MAX_ROW_GROUP_BYTES = 100 * 10**6  # datasets' MAX_ROW_GROUP_SIZE
MAX_ROW_GROUP_ROWS = 100  # datasets' PARQUET_ROW_GROUP_SIZE_FOR_IMAGE_DATASETS


def config_files(folder: Path, config: str) -> list[Path]:
    """The parquet shards of one configuration, in order."""
    return sorted((folder / config).glob(SPLIT_GLOB))


def write_config(folder: Path, config: str, rows: Iterable[Mapping[str, Any]],
                 max_shard_bytes: int = MAX_SHARD_BYTES,
                 max_row_group_bytes: int = MAX_ROW_GROUP_BYTES) -> list[Path]:
    """Write the rows of one configuration as parquet shards; returns their paths. Shard and
    row-group sizes follow `datasets`' rules (uncompressed Arrow bytes / the limit, plus one
    shards; row groups of at most `MAX_ROW_GROUP_ROWS` rows and `max_row_group_bytes`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features_for(config).arrow_schema
    table = pa.Table.from_pylist(list(rows), schema=schema)
    n_shards = max(1, min(table.num_rows, table.nbytes // max_shard_bytes + 1))
    group_rows = max(1, min(MAX_ROW_GROUP_ROWS,
                            table.num_rows * max_row_group_bytes // max(1, table.nbytes)))
    out = folder / config
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_shards):  # contiguous slices, as datasets' Dataset.shard(contiguous=True)
        start, stop = i * table.num_rows // n_shards, (i + 1) * table.num_rows // n_shards
        path = out / f"test-{i:05d}-of-{n_shards:05d}.parquet"
        pq.write_table(table.slice(start, stop - start), path, compression="zstd",
                       row_group_size=group_rows)
        paths.append(path)
    return paths


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, info: Mapping[str, Any]) -> None:
    """The manifest (the files' digests), and a README.md whose metadata lets `datasets`
    read the folder by configuration (`load_dataset(folder, "lsd")`; `capeval_qa` by
    default). Publishing replaces the README with the full dataset card."""
    files = sorted(folder.glob(f"*/{SPLIT_GLOB}"))
    manifest = {
        **info,
        "files": {str(p.relative_to(folder)): file_sha256(p) for p in files},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (folder / "README.md").write_text(
        f"---\n{yaml.safe_dump(datasets_metadata(folder), sort_keys=False)}---\n\n"
        "A CoViP benchmark dataset written by covip-eval: evaluate on it with `coviP-eval "
        "--dataset <this folder>`.\n")


def folder_configs(folder: Path) -> list[str]:
    """The configurations that have parquet files, in the canonical order."""
    return [c for c in CONFIGS if config_files(folder, c)]


def datasets_metadata(folder: Path) -> dict[str, Any]:
    """`configs` and a complete `dataset_info` (every split with its rows and bytes) as the
    `datasets` library reads them from a card's YAML: no warning, a default configuration."""
    import pyarrow.parquet as pq

    configs, infos = [], []
    for config in folder_configs(folder):
        files = config_files(folder, config)
        meta = [pq.ParquetFile(path).metadata for path in files]
        rows = sum(m.num_rows for m in meta)
        size = sum(m.row_group(i).total_byte_size for m in meta for i in range(m.num_row_groups))
        configs.append({"config_name": config,
                        "data_files": [{"split": "test", "path": f"{config}/*.parquet"}],
                        **({"default": True} if config == "capeval_qa" else {})})
        infos.append({"config_name": config, "features": features_for(config)._to_yaml_list(),
                      "splits": [{"name": "test", "num_bytes": size, "num_examples": rows}],
                      "download_size": sum(p.stat().st_size for p in files),
                      "dataset_size": size})
    return {"configs": configs, "dataset_info": infos}


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def content_revision(folder: Path, known: Mapping[Path, str] | None = None) -> str:
    """A revision id from the bytes of the data files (what a result should be traced to);
    `known` holds digests already computed, which are not computed again."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.parquet")):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(((known or {}).get(path) or file_sha256(path)).encode())
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
        try:
            os.replace(self.tmp, self.target)
        except OSError:
            if self.overwrite or not self.target.exists():
                raise
            # another process put its copy in place since the check above: it is kept
            shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass(frozen=True)
class ParquetCell:
    """Where an image's bytes lie in a parquet file (a row of a row group, a column, and the
    position in a list column); calling it reads them. Picklable, so samples cross to data
    loader workers without their bytes."""

    path: str
    row_group: int
    row: int
    column: str
    position: int | None = None

    def __call__(self) -> bytes:
        scalar = _column_chunk(self.path, self.row_group, self.column)[self.row]
        if self.position is not None:  # one entry of the list, not the whole list
            scalar = scalar.values[self.position]
        cell = scalar.as_py()
        return bytes(cell["bytes"] if isinstance(cell, dict) else cell)

    @classmethod
    def of_field(cls, path: str, row_group: int, row: int, field: str) -> ParquetCell:
        """`images_context[2]` -> column images_context, position 2."""
        column, _, rest = field.partition("[")
        return cls(path, row_group, row, column, int(rest.rstrip("]")) if rest else None)


@functools.lru_cache(maxsize=2)  # the two image columns of the row group in use
def _column_chunk(path: str, row_group: int, column: str) -> Any:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(row_group, columns=[column]).column(0)


def iter_parquet_rows(files: Iterable[Path]) -> Iterator[tuple[dict[str, Any], str, int, int]]:
    """Every row of the files, with its file, row group and row in the group: one row group
    (at most `MAX_ROW_GROUP_ROWS` rows) is in memory at a time, never the whole file."""
    import pyarrow.parquet as pq

    for path in files:
        for group in range(pq.ParquetFile(path).num_row_groups):
            for row, values in enumerate(row_group_rows(str(path), group)):
                yield values, str(path), group, row


def row_group_rows(path: str, group: int) -> list[dict[str, Any]]:
    """The rows of one row group of a parquet file."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read_row_group(group).to_pylist()
