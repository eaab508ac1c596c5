"""What identifies the weights behind a model name, so that cached outputs never outlive them.

A local folder is fingerprinted by its files (name, size, modification time): retraining into
the same folder changes it. A Hub id is identified by the commit its revision resolves to in
the local Hub cache (a moved branch changes it), or, once loaded, by the commit the model's
config records.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_SNAPSHOT = re.compile(r"snapshots/([0-9a-f]{40})/")


def folder_fingerprint(folder: Path) -> str:
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                     for p in folder.iterdir() if p.is_file())
    return "files:" + hashlib.sha256(repr(entries).encode()).hexdigest()[:16]


def weights_fingerprint(pretrained: str, revision: str | None = None) -> str | None:
    """`files:<hash>` for a local folder, `commit:<sha>` for a Hub id found in the local Hub
    cache, None when neither can be told before loading."""
    path = Path(pretrained).expanduser()
    if path.is_dir():
        return folder_fingerprint(path)
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        cached = try_to_load_from_cache(pretrained, "config.json", revision=revision)
    except ValueError:  # not a valid Hub id
        return None
    match = _SNAPSHOT.search(str(cached)) if isinstance(cached, str) else None
    return f"commit:{match.group(1)}" if match else None
