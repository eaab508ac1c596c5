"""Judge throughput against a local OpenAI-compatible server with a fixed latency per reply and a
fixed number of slots (replies in progress at once; more wait), like a vLLM server at capacity.

Three clients judge the same CapEval-QA questions (builtin:mini, one fixed caption a sample):
- covip-eval's judge path at default settings (`--judge openai-compatible`, no other option);
- a bare `AsyncOpenAI` client, all questions under one semaphore of the server's slot count;
- the official scripts' pattern: one sample at a time, a thread pool over its questions
  (`ThreadPoolExecutor()` with its default size, min(32, cores + 4): 6 threads on 2 cores).

    python bench/bench_judge.py [--latency 0.5] [--slots 64] [--questions 2000]
    python bench/bench_judge.py --questions 288 --slots 512 --max_concurrency 512
                                                    # a training step's reward round
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmark import load_benchmark
from covip_eval.engine.cache import RequestCache
from covip_eval.engine.scoring import mcqa_item
from covip_eval.registry import make_judge

CAPTION = "In this photo I can see a friend of mine at the lake."


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog: many clients connect at once


def _serve(latency: float, slots: int, port: Any) -> None:
    """Run the server (in its own process) and report its port."""
    free = threading.Semaphore(slots)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with free:
                time.sleep(latency)
            reply = json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {
                    "role": "assistant", "content": "\\boxed{A}"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    httpd = _Server(("127.0.0.1", 0), Handler)
    port.put(httpd.server_address[1])
    httpd.serve_forever()


class LatencyServer:
    """Answers every chat completion with a boxed letter after `latency` seconds, at most
    `slots` at a time. It runs in a process of its own, as a real judge server does: in the
    client's process its hundreds of threads would take turns with the client for the
    interpreter and slow the very calls being measured."""

    def __init__(self, latency: float, slots: int):
        self.latency, self.slots = latency, slots

    def __enter__(self) -> LatencyServer:
        context = multiprocessing.get_context("spawn")  # no fork of a process using CUDA
        port = context.Queue()
        self.process = context.Process(target=_serve, args=(self.latency, self.slots, port),
                                       daemon=True)
        self.process.start()
        self.port = port.get(timeout=120)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def questions(limit: int) -> list[list[Any]]:
    """Judge items grouped by sample, `limit` in all."""
    groups, total = [], 0
    for sample in load_benchmark("builtin:mini", "capeval_qa", progress=False).samples:
        items = [mcqa_item(f"{CAPTION} ({sample.sample_id})", qa, qa.correct_answer)
                 for concept in sample.context for qa in concept.qas][:limit - total]
        groups.append(items)
        total += len(items)
        if total >= limit:
            break
    return groups


def project(url: str, groups: list[list[Any]], max_concurrency: int | None = None) -> float:
    options: dict[str, Any] = {"base_url": url, "model": "judge"}
    if max_concurrency:
        options["max_concurrency"] = max_concurrency
    judge = make_judge("openai-compatible", options, RequestCache(None), progress=False)
    flat = [item for group in groups for item in group]
    start = time.perf_counter()
    verdicts = judge.grade(flat)
    seconds = time.perf_counter() - start
    judge.close()
    assert all(v.answer == "A" for v in verdicts)
    return seconds


def _prompts(groups: list[list[Any]]) -> list[list[str]]:
    return [[json.dumps(item.fields) for item in group] for group in groups]


def bare_client(url: str, groups: list[list[Any]], slots: int) -> float:
    from openai import AsyncOpenAI

    async def run() -> None:
        client = AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0)
        bound = asyncio.Semaphore(slots)

        async def one(prompt: str) -> None:
            async with bound:
                await client.chat.completions.create(
                    model="judge", messages=[{"role": "user", "content": prompt}])

        await asyncio.gather(*(one(p) for group in _prompts(groups) for p in group))
        await client.close()

    start = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - start


def official_pattern(url: str, groups: list[list[Any]]) -> float:
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key="EMPTY", max_retries=0)

    def one(prompt: str) -> None:
        client.chat.completions.create(model="judge",
                                       messages=[{"role": "user", "content": prompt}])

    start = time.perf_counter()
    for group in _prompts(groups):  # one sample at a time
        with ThreadPoolExecutor() as pool:
            list(pool.map(one, group))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--max_concurrency", type=int, default=None, help="for covip-eval's "
                        "judge (default: its own); 512 with --questions 288 --slots 512 is a "
                        "training step's reward round of 8 four-concept captions")
    args = parser.parse_args()
    groups = questions(args.questions)
    n = sum(len(g) for g in groups)
    with LatencyServer(args.latency, args.slots) as server:
        ours = "covip-eval judge, " + (f"max_concurrency={args.max_concurrency}"
                                       if args.max_concurrency else "default settings")
        seconds = {
            ours: project(server.url, groups, args.max_concurrency),
            f"bare AsyncOpenAI, concurrency {args.slots}": bare_client(server.url, groups,
                                                                       args.slots),
            "official pattern (per sample, thread pool)": official_pattern(server.url, groups),
        }
    bare = n / seconds[f"bare AsyncOpenAI, concurrency {args.slots}"]
    official = n / seconds["official pattern (per sample, thread pool)"]
    print(f"{n} questions, server latency {args.latency} s, {args.slots} slots "
          f"(ceiling {args.slots / args.latency:.0f} q/s; covip-eval judge: "
          f"{seconds[ours] / args.latency:.2f} latencies)\n")
    print("| client | seconds | questions/s | vs bare client | vs official pattern |")
    print("|--------|--------:|------------:|---------------:|--------------------:|")
    for label, s in seconds.items():
        rate = n / s
        print(f"| {label} | {s:.1f} | {rate:.1f} | {rate / bare:.0%} | {rate / official:.1f}x |")


if __name__ == "__main__":
    main()
