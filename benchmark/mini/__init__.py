"""The built-in mini benchmark: procedurally generated, deterministic, no network or weights."""

from benchmark.mini.generate import GENERATOR_VERSION, MiniSizes
from benchmark.mini.write import build_mini

__all__ = ["GENERATOR_VERSION", "MiniSizes", "build_mini"]
