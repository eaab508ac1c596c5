"""One entry point for every dataset source: `builtin:mini`, local folders, and the Hub.

Specs:
- `builtin:mini` (optionally `builtin:mini?seed=3`): generated on first use into the cache
  folder (`$COVIP_CACHE_DIR`, default `~/.cache/covip_eval`), then read from there.
- a local folder: our parquet layout (`DIR/<config>/*.parquet`), a `datasets.save_to_disk`
  folder (`DIR/<config>/` or `DIR/`), or JSONL (`DIR/<config>.jsonl`) with image paths
  relative to `DIR`.
- a Hub dataset id, `owner/name` or `owner/name@revision`; the resolved commit is recorded.
  With HF_HUB_OFFLINE=1, a revision fetched before loads from the Hugging Face cache.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload
from urllib.parse import parse_qsl

from benchmark.errors import DatasetError
from benchmark.features import CONFIGS
from benchmark.records import Sample
from benchmark.rows import RowReader, folder_image_resolver
from benchmark.storage import (
    MANIFEST,
    ParquetCell,
    config_files,
    content_revision,
    file_sha256,
    iter_parquet_rows,
    read_manifest,
    row_group_rows,
)

BUILTIN_PREFIX = "builtin:"


@dataclass(frozen=True)
class LoadedDataset:
    """The samples of one configuration, and where exactly they came from."""

    spec: str
    config: str
    revision: str
    samples: Sequence[Sample]  # a tuple, or read as needed (ParquetSamples)
    location: str


def cache_dir() -> Path:
    return Path(os.environ.get("COVIP_CACHE_DIR", Path.home() / ".cache" / "covip_eval"))


def load_benchmark(spec: str, config: str, progress: bool = True) -> LoadedDataset:
    if config not in CONFIGS:
        raise DatasetError(spec, f"unknown configuration {config!r}; known: {', '.join(CONFIGS)}")
    if spec.startswith(BUILTIN_PREFIX):
        return _load_builtin(spec, config, progress)
    path = Path(spec).expanduser()
    if path.exists():
        return _load_folder(spec, path, config)
    if _looks_like_hub_id(spec):
        return _load_hub(spec, config)
    raise DatasetError(spec, "no such folder, and not a Hub dataset id (owner/name[@revision])")


def builtin_folder(spec: str, progress: bool = True) -> Path:
    """The folder holding a built-in dataset, generating it on first use."""
    from benchmark.mini import GENERATOR_VERSION, MiniSizes, build_mini
    from benchmark.mini.generate import describe

    name, _, query = spec[len(BUILTIN_PREFIX):].partition("?")
    if name != "mini":
        raise DatasetError(spec, f"unknown built-in dataset {name!r}; known: builtin:mini")
    params = dict(parse_qsl(query))
    try:
        seed = int(params.pop("seed", 0))
        sizes = MiniSizes(**{k: type(getattr(MiniSizes, k))(v) for k, v in params.items()})
    except (ValueError, TypeError, AttributeError) as exc:
        raise DatasetError(spec, f"bad parameter: {exc}") from None
    suffix = "-".join(f"{k}{v}" for k, v in sorted(params.items()))
    name = f"mini-v{GENERATOR_VERSION}-seed{seed}" + (f"-{suffix}" if suffix else "")
    folder = cache_dir() / "datasets" / name
    manifest = read_manifest(folder)
    if manifest is None or manifest.get("spec") != describe(seed, sizes):
        # a folder without a manifest is no build, and one of an older layout is stale: both
        # are replaced; with none there yet, a process building the same data at once
        # (another rank) may finish first, and its build stays: replacing it could pull the
        # files from under that process's reads
        build_mini(folder, seed=seed, sizes=sizes, progress=progress, overwrite=folder.exists())
    return folder


def _load_builtin(spec: str, config: str, progress: bool) -> LoadedDataset:
    folder = builtin_folder(spec, progress)
    loaded = _load_folder(spec, folder, config)
    manifest = read_manifest(folder) or {}
    revision = f"mini-v{manifest.get('generator_version')}-seed{manifest.get('seed')}"
    return LoadedDataset(spec, config, f"{revision}-{loaded.revision}", loaded.samples,
                         str(folder))


def _checked_sums(root: Path, files: list[Path]) -> dict[Path, str]:
    """The files' sha256 digests; each file the folder's manifest lists must have the one it
    lists."""
    listed = (read_manifest(root) or {}).get("files", {})
    digests = {path: file_sha256(path) for path in files}
    for path, found in digests.items():
        expected = listed.get(str(path.relative_to(root)))
        if expected is not None and found != expected:
            raise DatasetError(str(path), f"its sha256 is not the one {MANIFEST} lists: the file "
                               f"is corrupt or truncated; {_REBUILD}")
    return digests


_REBUILD = ("build or download the dataset again (builtin data: delete the folder and it is "
            "generated again)")


class ParquetSamples(Sequence[Sample]):
    """The samples of parquet files, read a row group at a time when they are asked for.

    Loading reads every row once to check it (a bad row is a load error, as for any source)
    and keeps only where each row group starts; a sample is read again from its row group when
    it is needed, the last `CACHED_GROUPS` groups kept. So a loaded dataset holds neither its
    images nor its texts, and an evaluation in order reads each group about once."""

    CACHED_GROUPS = 2

    def __init__(self, files: list[Path], config: str, reader: RowReader):
        self._config, self._reader = config, reader
        self._starts: list[int] = []  # the index of each group's first row
        self._groups: list[tuple[str, int]] = []  # file and row group
        reader.locate_image = self._locate
        total = 0
        for row, path, group, in_group in self._rows(files):
            if in_group == 0:
                self._starts.append(total)
                self._groups.append((path, group))
            reader.one(config, row, total)  # checked, then let go
            total += 1
        self._len = total
        reader.checked = True  # rows read again were checked above
        self._cache: OrderedDict[int, list[Sample]] = OrderedDict()

    @staticmethod
    def _rows(files: list[Path]) -> Iterator[tuple[dict[str, Any], str, int, int]]:
        import pyarrow as pa

        for file in files:
            try:
                yield from iter_parquet_rows([file])
            except (pa.ArrowException, OSError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise DatasetError(str(file), f"not a readable parquet file ({reason}); "
                                   f"{_REBUILD}") from None

    def _place(self, index: int) -> tuple[int, int]:
        """The row group of row `index`, and the row's place in it."""
        group = bisect.bisect_right(self._starts, index) - 1
        return group, index - self._starts[group]

    def _locate(self, index: int, field: str) -> ParquetCell:
        group, row = self._place(index)
        return ParquetCell.of_field(*self._groups[group], row, field)

    def __len__(self) -> int:
        return self._len

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same samples, as the tuple it stands for would be."""
        if not isinstance(other, (tuple, list, ParquetSamples)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]  # equal to a list, so not hashable

    @overload
    def __getitem__(self, index: int) -> Sample: ...
    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if not -self._len <= index < self._len:
            raise IndexError(index)
        group, row = self._place(index % self._len)
        return self._group(group)[row]

    def _group(self, group: int) -> list[Sample]:
        if group in self._cache:
            self._cache.move_to_end(group)
            return self._cache[group]
        rows = row_group_rows(*self._groups[group])
        first = self._starts[group]
        samples = [self._reader.one(self._config, row, first + k) for k, row in enumerate(rows)]
        self._cache[group] = samples
        while len(self._cache) > self.CACHED_GROUPS:
            self._cache.popitem(last=False)
        return samples


def _read_jsonl_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines()):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetError(str(path), f"not valid JSON: {exc.msg}", row=n) from None
    return rows


def _read_saved_rows(path: Path) -> list[dict[str, Any]]:
    from datasets import load_from_disk

    ds = load_from_disk(str(path))
    if hasattr(ds, "keys"):  # a DatasetDict: take its only split, or 'test'
        ds = ds["test"] if "test" in ds else ds[next(iter(ds.keys()))]
    ds = ds.cast(_undecoded(ds.features))  # images stay encoded bytes
    return ds.to_list()


def _undecoded(features):
    """The same features with every Image (nested ones too) left undecoded."""
    from datasets import Features, Image, List

    def walk(f):
        if isinstance(f, Image):
            return Image(decode=False)
        if isinstance(f, List):
            return List(walk(f.feature))
        if isinstance(f, dict):
            return {k: walk(v) for k, v in f.items()}
        return f

    return Features({k: walk(v) for k, v in features.items()})


def _load_folder(spec: str, root: Path, config: str) -> LoadedDataset:
    sub = root / config
    digests: dict[Path, str] = {}
    reader = RowReader(str(sub), folder_image_resolver(root))
    if sub.is_dir() and sorted(sub.glob("*.parquet")):
        files = sorted(sub.glob("*.parquet"))
        digests = _checked_sums(root, files)
        samples: Sequence[Sample] = ParquetSamples(files, config, reader)
    elif (sub / "state.json").exists() or (sub / "dataset_dict.json").exists():
        samples = reader.read(config, _read_saved_rows(sub))
    elif (root / f"{config}.jsonl").exists():
        reader.source = str(root / f"{config}.jsonl")
        samples = reader.read(config, _read_jsonl_rows(root / f"{config}.jsonl"))
    elif (root / "state.json").exists() or (root / "dataset_dict.json").exists():
        reader.source = str(root)
        samples = reader.read(config, _read_saved_rows(root))
    else:
        raise DatasetError(
            str(root), f"no data for configuration {config!r} (expected {config}/*.parquet, "
            f"a save_to_disk folder, or {config}.jsonl)"
        )
    return LoadedDataset(spec, config, content_revision(root, digests),
                         samples if isinstance(samples, ParquetSamples) else tuple(samples),
                         str(root))


def _looks_like_hub_id(spec: str) -> bool:
    name = spec.split("@", 1)[0]
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~"))


def _hub_offline() -> bool:
    return any(os.environ.get(v, "").upper() in ("1", "ON", "YES", "TRUE")
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _load_hub(spec: str, config: str) -> LoadedDataset:
    """A Hub dataset at a resolved commit. Our layout (`<config>/*.parquet`) is fetched into the
    Hugging Face cache and read like a folder; with HF_HUB_OFFLINE=1 it is read from that cache
    (a revision fetched once loads offline). Other layouts go through `datasets`."""
    repo_id, _, revision = spec.partition("@")
    offline = _hub_offline()
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision or None,
                                        allow_patterns=[f"{config}/*.parquet"],
                                        local_files_only=offline))
    except Exception as exc:  # network, auth, missing-repo and cache misses end the same way
        if offline:
            raise _not_cached(spec, config) from None
        raise DatasetError(spec, f"cannot load from the Hub ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'no details'}); check "
                           "the id and revision, or pass a local folder") from None
    commit = folder.name  # the cache's snapshot folder is named by its commit
    location = f"hf://datasets/{repo_id}@{commit}"
    if config_files(folder, config):
        samples = _load_folder(spec, folder, config).samples
    else:
        samples = _load_with_datasets(spec, repo_id, commit, config, offline)
    return LoadedDataset(spec, config, commit, samples, location)


def _not_cached(spec: str, config: str) -> DatasetError:
    return DatasetError(spec, f"the Hub is offline (HF_HUB_OFFLINE=1) and configuration "
                        f"{config!r} of this revision is not in the Hugging Face cache: load it "
                        "once with network, or pass a local folder")


def _load_with_datasets(spec: str, repo_id: str, commit: str, config: str, offline: bool
                        ) -> tuple[Sample, ...]:
    """A repository in another layout (for example `push_to_hub`'s), read by `datasets`
    (offline, from its own cache)."""
    try:
        from datasets import load_dataset

        ds = load_dataset(repo_id, config, split="test", revision=commit)
    except Exception as exc:
        if offline:
            raise _not_cached(spec, config) from None
        raise DatasetError(spec, f"cannot read configuration {config!r} ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else 'no details'})") from None
    ds = ds.cast(_undecoded(ds.features))
    return tuple(RowReader(f"{repo_id}@{commit}:{config}").read(config, ds.to_list()))
