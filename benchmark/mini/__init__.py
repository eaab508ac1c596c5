"""The built-in mini benchmark: procedurally generated, deterministic, no network or weights."""

from benchmark.mini.build import build_mini
from benchmark.mini.generate import GENERATOR_VERSION, MiniSizes

__all__ = ["GENERATOR_VERSION", "MiniSizes", "build_mini"]
