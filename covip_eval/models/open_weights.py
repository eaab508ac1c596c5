"""Open weights: what identifies them, and loading them with one clear line when it fails.

Identity, so that cached outputs never outlive the weights: a local folder is fingerprinted by
its files (name, size, modification time), so retraining into the same folder changes it; a
Hub id by the commit its revision resolves to in the local Hub cache (a moved branch changes
it), or, once loaded, by the commit the model's config records.

Loading: with no network, a name that is neither a local folder nor in the local Hub cache
fails at once instead of after the Hub client's retries, and every loading error ends in one
line naming the model, the cause and the fix.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from covip_eval.errors import ConfigError

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
    cached = cached_config(pretrained, revision)
    match = _SNAPSHOT.search(cached) if cached else None
    return f"commit:{match.group(1)}" if match else None


def cached_config(name: str, revision: str | None) -> str | None:
    """The path of a Hub model's config.json in the local Hub cache, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(name, "config.json", revision=revision)
    except ValueError:  # not a valid Hub id
        return None
    return found if isinstance(found, str) else None


OFFLINE_FIX = ("pass a local folder, or download it where there is a network (then "
               "HF_HUB_OFFLINE=1 uses the local cache)")


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co",
                                       endpoint.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def check_reachable(name: str, revision: str | None) -> None:
    """Fail fast for a missing folder, and for a Hub id that is not cached when the Hub
    cannot be reached."""
    if Path(name).expanduser().exists() or cached_config(name, revision):
        return
    if _looks_like_path(name):
        raise ConfigError(f"cannot load model {name!r}: no such folder")
    if not hub_reachable():
        raise ConfigError(f"cannot load model {name!r}: it is not a local folder, not in the "
                          f"local Hub cache, and the Hub cannot be reached; {OFFLINE_FIX}")


def _explain(name: str, exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    if "gated" in lowered or "401" in text or "403" in text or "restricted" in lowered:
        fix = ("access denied (a gated or private repository): run `hf auth login` with an "
               "account that has access, or pass a local folder")
    elif "connect" in lowered or "offline" in lowered or "resolve" in lowered:
        fix = f"the Hub cannot be reached; {OFFLINE_FIX}"
    elif "not a valid model identifier" in lowered or "no such file" in lowered \
            or "does not appear to have" in lowered or "not found" in lowered:
        fix = "no such model: check the Hub id, or the path of a local folder"
    else:
        fix = f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no details'}"
    return f"cannot load model {name!r}: {fix}"


@contextmanager
def loading(name: str) -> Iterator[None]:
    """Turn a loading error into one line naming the model, the cause and the fix."""
    try:
        yield
    except (OSError, ValueError) as exc:
        raise ConfigError(_explain(name, exc)) from None


def load_checked(name: str, revision: str | None, load: Callable[[], Any]) -> Any:
    check_reachable(name, revision)
    with loading(name):
        return load()
