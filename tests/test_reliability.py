"""Scores that stay right when servers misbehave: every fault is retried or reported, and a
run through a faulty server ends with the same numbers as a clean one."""

from __future__ import annotations

from collections import Counter

import pytest
from fault_server import FAULTS, FaultServer

from covip_eval.engine.run import EvalSettings, evaluate
from covip_eval.models.base import ModelAdapter

DATA = "builtin:mini?seed=5&capeval_per_count=6&lsd=10&lar=10&itr=10"
SEEN_AS = {"429": "HTTP 429", "500": "HTTP 500", "hang": "TimeoutError",
           "truncated": "JSONDecodeError", "no_choices": "malformed reply",
           "empty_length": "empty reply"}
TIMEOUTS = ("TimeoutError", "APITimeoutError", "APIConnectionError")


def _run(server: FaultServer) -> dict:
    args = {"base_url": server.url, "model": "m", "timeout": 2.0, "backoff_base": 0.01,
            "backoff_max": 0.05, "max_retries": 6, "max_concurrency": 16}
    return evaluate(EvalSettings(
        model="openai-compatible", model_args=args, tasks=["covip"], dataset=DATA,
        judge="openai-compatible", judge_args={**args, "model": "judge"},
        progress=False)).results


@pytest.mark.slow
def test_faulty_server_gives_the_clean_numbers() -> None:
    with FaultServer() as clean_server:
        clean = _run(clean_server)
    with FaultServer(fault_rate=0.2) as faulty_server:
        faulty = _run(faulty_server)
    usage = faulty["usage"]
    assert usage["model"]["called"] >= 100 and usage["judge"]["called"] >= 500
    assert set(faulty_server.faults) == set(FAULTS)  # every kind was injected
    retried = Counter(usage["model"]["retries"]) + Counter(usage["judge"]["retries"])
    for fault, count in faulty_server.faults.items():  # every fault is accounted for
        if fault == "hang":  # the SDK's timeout or ours; a slow machine may add some
            assert sum(retried[k] for k in TIMEOUTS) >= count
        else:
            assert retried[SEEN_AS[fault]] == count
    assert faulty["results"] == clean["results"]
    assert all(o["generation_failures"] == o["judge_failures"] == 0
               for o in faulty["outcomes"].values())


class _OneBadRequest(ModelAdapter):
    """An adapter whose whole batch raises when one request holds the word 'poison'."""

    name = "poisoned"
    batch_size = 8

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def generate(self, requests):
        from covip_eval.requests import Generation

        self.calls += 1
        if any("poison" in m.text for r in requests for m in r.messages):
            raise RuntimeError("prompt is longer than the model's context")
        return [Generation(text="fine") for _ in requests]


def test_one_bad_request_fails_alone() -> None:
    from covip_eval.engine.cache import RequestCache
    from covip_eval.engine.generation import GenerationRunner
    from covip_eval.requests import ChatRequest, Message, TextPart

    requests = [ChatRequest((Message("user", (TextPart(f"request {i}"
                                                       + (" poison" if i == 5 else "")),)),))
                for i in range(8)]
    runner = GenerationRunner(_OneBadRequest(), RequestCache(None), progress=False)
    out = runner.run(requests, "test")
    assert [g.ok for g in out] == [i != 5 for i in range(8)]
    assert out[5].error == "model error: RuntimeError: prompt is longer than the model's context"
    assert runner.stats.split_batches == 3  # 8 -> 4 -> 2 -> 1


def _requests(n: int):
    from covip_eval.requests import ChatRequest, GenParams, Message, TextPart

    return [ChatRequest((Message("user", (TextPart(f"question {i}"),)),), GenParams())
            for i in range(n)]


def _through(base_url: str, n: int):
    """The adapter after answering n requests through `base_url` (every answer ok)."""
    from covip_eval.registry import make_model

    model = make_model("openai-compatible", {
        "base_url": base_url, "model": "m", "timeout": 5.0, "backoff_base": 0.01,
        "backoff_max": 0.05, "max_retries": 4})
    try:
        assert all(g.ok for g in model.generate(_requests(n)))
    finally:
        model.close()
    return model


def test_several_endpoints_share_the_calls_and_a_dead_one_is_set_aside() -> None:
    with FaultServer() as a, FaultServer() as b:
        model = _through(f"{a.url}|{b.url}", 60)
        usage = model.endpoint_usage
        assert a.calls >= 15 and b.calls >= 15 and a.calls + b.calls == 60
        assert [u["calls"] for u in usage.values()] == [a.calls, b.calls]
        assert sum(u["share"] for u in usage.values()) == pytest.approx(1.0)
        assert model.concurrency == 128  # 64 per endpoint
        dead = "http://127.0.0.1:9/v1"  # nothing listens there
        model = _through(f"{dead}|{a.url}", 40)
        usage = model.endpoint_usage
        assert usage[dead]["calls"] == 0 and usage[a.url]["share"] == 1.0
        # set aside after failing: far fewer failures than calls routed to the other one
        assert 1 <= usage[dead]["failures"] < 40
        assert sum(model.retry_counts.values()) == usage[dead]["failures"]
