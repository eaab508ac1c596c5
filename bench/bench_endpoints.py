"""Judge throughput across several local OpenAI-compatible servers, each with a fixed latency
per reply and a fixed number of slots: the project's judge with `base_url=URL|URL|...` at
default settings, against one server. With the servers the bottleneck (not the client), N
servers should give close to N times one.

    python bench/bench_endpoints.py [--servers 1,2,4] [--latency 0.25] [--slots 16]
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack

from bench_judge import LatencyServer, project, questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", default="1,2,4")
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--questions", type=int, default=1200)
    args = parser.parse_args()
    groups = questions(args.questions)
    n = sum(len(g) for g in groups)
    ceiling = args.slots / args.latency
    print(f"{n} questions; each server: latency {args.latency} s, {args.slots} slots "
          f"(ceiling {ceiling:.0f} q/s)\n")
    print("| servers | seconds | questions/s | vs one server | of the servers' ceiling |")
    print("|--------:|--------:|------------:|--------------:|------------------------:|")
    one = None
    for count in (int(c) for c in args.servers.split(",")):
        with ExitStack() as stack:
            servers = [stack.enter_context(LatencyServer(args.latency, args.slots))
                       for _ in range(count)]
            seconds = project("|".join(s.url for s in servers), groups)
        rate = n / seconds
        one = one or rate
        print(f"| {count} | {seconds:.1f} | {rate:.1f} | {rate / one:.2f}x | "
              f"{rate / (count * ceiling):.0%} |")


if __name__ == "__main__":
    main()
