"""Loading open weights, with one clear line when it cannot be done: which model, why, and
the fix. With no network, a name that is neither a local folder nor in the local Hub cache
fails at once instead of after the Hub client's retries."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from covip_eval.errors import ConfigError

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


def _in_hub_cache(name: str, revision: str | None) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(name, "config.json", revision=revision)
    except ValueError:  # not a valid Hub id
        return False
    return isinstance(found, str)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def check_reachable(name: str, revision: str | None) -> None:
    """Fail fast for a missing folder, and for a Hub id that is not cached when the Hub
    cannot be reached."""
    if Path(name).expanduser().exists() or _in_hub_cache(name, revision):
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
