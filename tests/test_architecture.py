"""The architecture, enforced: which package may import which, the layers inside the engine,
and no import cycles. Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGES = {
    "benchmark": set(),
    "tasks": {"benchmark"},
    "covip_eval": {"benchmark", "tasks"},
    # the metric declarations and the result files' models alone
    "leaderboard": {"benchmark", "covip_eval.metrics", "covip_eval.result_files"},
    "coviP_train": {"benchmark", "tasks", "covip_eval"},
}
# Inside the engine a module imports only from its own layer or lower ones. A new module
# gets a line here.
ENGINE_LAYERS = [
    ("covip_eval", 6), ("covip_eval.cli.*", 6),  # the public API and the command lines
    ("covip_eval.engine.run", 5), ("covip_eval.engine.merge", 5),  # settings to results
    ("covip_eval.engine.audit", 5),  # evaluations of probe models
    ("covip_eval.engine.evaluator", 4), ("covip_eval.engine.tally", 4),
    ("covip_eval.engine.results", 4), ("covip_eval.engine.result_parts", 4),
    ("covip_eval.engine.controls", 4), ("covip_eval.engine.judge_agreement", 4),
    ("covip_eval.construction*", 4),  # the dataset pipeline's model-backed stages
    ("covip_eval.integrations.*", 4),  # lm-eval, W&B and the Hub
    ("covip_eval.registry", 3),  # names to objects
    ("covip_eval.models.base", 1), ("covip_eval.judges.base", 1),
    ("covip_eval.models", 1), ("covip_eval.judges", 1),  # interfaces
    ("covip_eval.engine.generation", 2), ("covip_eval.engine.request_builder", 2),
    ("covip_eval.engine.scoring", 2), ("covip_eval.engine.stages", 2),
    ("covip_eval.engine.task", 2),  # a task: its chain of stages, its scorer, its metrics
    ("covip_eval.engine.cache", 1), ("covip_eval.engine.taskconfig", 1),
    ("covip_eval.engine.settings", 0),
    # the adapters' support code, beside them: plain helpers that import no adapter
    ("covip_eval.models.aliases", 0), ("covip_eval.models.visual_match", 0),
    ("covip_eval.models.tiny_models", 0), ("covip_eval.models.tiny_families", 0),
    ("covip_eval.models.open_weights", 0), ("covip_eval.models.seeded_sampling", 0),
    ("covip_eval.models.qwen3vl_attention", 0),
    ("covip_eval.models.*", 2), ("covip_eval.judges.*", 2),  # adapters and judges
    ("covip_eval.errors", 0), ("covip_eval.requests", 0), ("covip_eval.engine.prompts", 0),
    ("covip_eval.redaction", 0), ("covip_eval.metrics", 0), ("covip_eval.result_files", 0),
    ("covip_eval.engine", 0), ("covip_eval.integrations", 0), ("covip_eval.cli", 0),
]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from package import module` depends on the module; other names on the
                # package (its __init__) itself
                submodules = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
                deps |= submodules
                if len(submodules) < len(node.names):
                    deps.add(node.module)
        graph[name] = {d for d in deps if d in modules}
    return graph


def _layer(module: str) -> int:
    for pattern, layer in ENGINE_LAYERS:  # exact names first, then patterns, in order
        if module == pattern:
            return layer
    for pattern, layer in ENGINE_LAYERS:
        if fnmatch(module, pattern):
            return layer
    raise AssertionError(f"{module} has no layer: add it to ENGINE_LAYERS")


def test_packages_import_only_what_the_design_allows() -> None:
    wrong = [(m, d) for m, deps in _graph().items() for d in deps
             if d.split(".")[0] != m.split(".")[0]
             and not {d, d.split(".")[0]} & PACKAGES[m.split(".")[0]]]
    assert wrong == []


def test_engine_modules_never_import_upward() -> None:
    graph = _graph()
    upward = [(m, d) for m, deps in graph.items() if m.split(".")[0] == "covip_eval"
              for d in deps if d.startswith("covip_eval") and _layer(d) > _layer(m)]
    assert upward == []


def test_no_import_cycles() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
