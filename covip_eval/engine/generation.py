"""Running requests through a model adapter and the cache: dedup, refusals, batches, progress."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from covip_eval.engine.cache import RequestCache, request_key
from covip_eval.errors import CovipError
from covip_eval.models.aliases import cost_estimate
from covip_eval.models.base import ModelAdapter
from covip_eval.requests import ChatRequest, Generation, TextPart


@dataclass
class CallStats:
    """What a runner did: requests asked, served from cache, sent to the model, failed."""

    requested: int = 0
    unique: int = 0
    cached: int = 0
    called: int = 0
    failed: int = 0
    cut: int = 0  # replies that stopped at the token limit (scored as written)
    split_batches: int = 0  # batches that raised and were split to isolate the bad request
    input_tokens: int = 0
    output_tokens: int = 0
    ignored_options: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "ignored_options"}
        out["ignored_options"] = dict(self.ignored_options)
        return out


def _length(request: ChatRequest) -> int:
    text = sum(len(p.text) for m in request.messages for p in m.parts if isinstance(p, TextPart))
    return text + 1000 * len(request.images)


class GenerationRunner:
    """Generates for many requests at once; identical requests are generated once."""

    def __init__(self, adapter: ModelAdapter, cache: RequestCache, progress: bool = True):
        self.adapter, self.cache, self.progress = adapter, cache, progress
        self.stats = CallStats()
        self._reads_truth = adapter.capabilities.reads_ground_truth

    def usage(self) -> dict[str, Any]:
        """Calls, tokens and the adapter's own account (retries, splits, endpoints), with a
        cost estimate where the model's price is listed."""
        stats = {**self.stats.as_dict(), **self.adapter.usage()}
        stats["cost_usd_estimate"] = cost_estimate(self.adapter.identity.get("model"),
                                                   stats["input_tokens"], stats["output_tokens"])
        return stats

    def key(self, request: ChatRequest) -> str:
        truth = request.ground_truth
        fingerprint = truth.fingerprint(request.asks) if self._reads_truth and truth is not None \
            else None
        return request_key(self.adapter.identity, request, fingerprint)

    def run(self, requests: Sequence[ChatRequest], desc: str) -> list[Generation]:
        from tqdm import tqdm

        if not self._reads_truth:  # the answer key stays with the runner
            requests = [r.without_ground_truth() for r in requests]
        keys = [self.key(r) for r in requests]
        unique = dict(zip(keys, requests))
        results = {k: g.as_answer() for k, g in self.cache.get_many(list(unique)).items()}
        self.stats.requested += len(requests)
        self.stats.unique += len(unique)
        self.stats.cached += len(results)
        todo = []
        for key, request in unique.items():
            if key in results:
                continue
            refusal = self.adapter.refusal(request)
            if refusal:
                results[key] = Generation.failed(refusal)
                continue
            self.stats.ignored_options.update(self.adapter.ignored_options(request))
            todo.append((key, request))
        todo.sort(key=lambda kr: _length(kr[1]))  # similar lengths batch together
        with tqdm(total=len(todo), desc=desc, unit="call", disable=not self.progress,
                  leave=False) as bar:  # a run's steps show one bar of samples
            for completed in self._completed(todo):
                done = [(key, generation.as_answer()) for key, generation in completed]
                self.cache.put_many(done)  # each result is kept as soon as it exists
                for key, generation in done:
                    results[key] = generation
                    self.stats.input_tokens += generation.input_tokens
                    self.stats.output_tokens += generation.output_tokens
                bar.update(len(done))
        self.stats.called += len(todo)
        out = [results[k] for k in keys]
        self.stats.failed += sum(1 for g in out if not g.ok)
        self.stats.cut += sum(1 for g in out if g.cut)
        return out

    def _completed(self, todo: list[tuple[str, ChatRequest]]
                   ) -> Iterator[list[tuple[str, Generation]]]:
        """(key, generation) pairs as they complete: those that completed together for
        adapters that stream (APIs, all requests in flight under the adapter's bound), batch by
        batch otherwise."""
        if self.adapter.streams:
            requests = [request for _, request in todo]
            for batch in self.adapter.stream(requests):  # type: ignore[attr-defined]
                yield [(todo[index][0], generation) for index, generation in batch]
            return
        for start in range(0, len(todo), self.adapter.batch_size):
            chunk = todo[start:start + self.adapter.batch_size]
            generations = self._generate([r for _, r in chunk])
            yield [(key, g) for (key, _), g in zip(chunk, generations)]

    def _generate(self, requests: list[ChatRequest]) -> list[Generation]:
        """Generate for a batch; when it raises, split it in halves and try again, so that one
        bad request (an over-long prompt, say) fails alone, with its reason."""
        try:
            generations = self.adapter.generate(requests)
        except CovipError:
            raise
        except Exception as exc:
            if len(requests) > 1:
                self.stats.split_batches += 1
                half = len(requests) // 2
                return self._generate(requests[:half]) + self._generate(requests[half:])
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            return [Generation.failed(f"model error: {reason}")]
        if len(generations) != len(requests):
            raise CovipError(f"model {self.adapter.name!r} returned {len(generations)} outputs "
                             f"for {len(requests)} requests")
        return generations
