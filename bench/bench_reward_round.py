"""The training reward's judge rounds against a served judge, without a GPU: coviP-train's
reward (the trainer's own judge settings) scores rounds of 8 four-concept captions, as a GSPO
step of `bench_train_gpu.py` makes them (288 questions a round), against a local
OpenAI-compatible server with a fixed latency per reply. Prints each round's time in judge
latencies; the first round also opens the client and its connections.

    python bench/bench_reward_round.py [--latency 0.5] [--rounds 5] [--captions 8]
"""

from __future__ import annotations

import argparse
import time

from bench_judge import LatencyServer

from benchmark import load_benchmark
from covip_eval.engine.cache import RequestCache
from covip_eval.registry import make_judge
from coviP_train.config import load_config
from coviP_train.reward import CaptionReward, RewardWeights
from coviP_train.trainer import _judge_options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--captions", type=int, default=8)
    args = parser.parse_args()
    samples = {s.sample_id: s for s in load_benchmark("builtin:mini", "capeval_qa",
                                                      progress=False).samples
               if s.n_concepts == 4}
    ids = list(samples)[:args.captions]
    with LatencyServer(args.latency, slots=512) as server:
        config = load_config("gspo", ["judge=openai-compatible",
                                      f"judge_args=base_url={server.url},model=judge"])
        judge = make_judge(config.judge, _judge_options(config), RequestCache(None),
                           progress=False)
        reward = CaptionReward(judge, RewardWeights(), config.max_completion_length, samples)
        questions = sum(len(c.qas) for i in ids for c in samples[i].context)
        print(f"{args.captions} captions, {questions} questions a round, judge latency "
              f"{args.latency} s, max_concurrency {_judge_options(config)['max_concurrency']}\n")
        print("| round | seconds | judge latencies |")
        print("|---:|---:|---:|")
        for round_ in range(args.rounds):
            start = time.perf_counter()
            reward.terms([f"I can see a friend, round {round_}, photo {i}." for i in ids],
                         ids, None)
            seconds = time.perf_counter() - start
            print(f"| {round_ + 1} | {seconds:.2f} | {seconds / args.latency:.2f} |")
        judge.close()


if __name__ == "__main__":
    main()
