"""Versioned prompt templates: text files with a small YAML header, `${name}` placeholders."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

import yaml

from covip_eval.errors import ConfigError
from tasks import PROMPTS_DIR


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    text: str
    path: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def render(self, **values: object) -> str:
        try:
            return string.Template(self.text).substitute(**{k: str(v) for k, v in values.items()})
        except KeyError as exc:
            raise ConfigError(f"{self.path}: placeholder ${{{exc.args[0]}}} has no value") from None

    def record(self) -> dict[str, str]:
        return {"version": self.version, "sha256": self.sha256, "path": self.path}


def load_template(ref: str, base: Path | None = None) -> PromptTemplate:
    """Load a template by name (from the built-in prompts) or by path (relative to `base`)."""
    candidates = [Path(ref)]
    if base is not None:
        candidates.insert(0, base / ref)
    candidates.append(PROMPTS_DIR / f"{ref}.txt")
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise ConfigError(f"prompt template {ref!r} not found (looked in {PROMPTS_DIR} and "
                          f"{base or 'the working folder'})")
    return _parse(ref, path)


def _parse(ref: str, path: Path) -> PromptTemplate:
    raw = path.read_text()
    version, text = "unversioned", raw
    if raw.startswith("---\n"):
        header, sep, body = raw[4:].partition("\n---\n")
        if not sep:
            raise ConfigError(f"{path}: header opened with '---' is never closed")
        try:
            meta = yaml.safe_load(header) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: bad header: {exc}") from None
        version, text = str(meta.get("version", "unversioned")), body
    return PromptTemplate(name=Path(ref).stem, version=version, text=text.rstrip("\n"),
                          path=str(path))
