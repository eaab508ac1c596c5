"""Peak memory of full runs as the dataset grows, and with photo-sized images.

    python bench/bench_memory.py [--sizes 1,5,20] [--models blind,retrieval,...] [--no_photo]

Builds builtin:mini (seed 0) at each multiple of the default sizes, and a copy of the 1x build
with every image re-encoded as a 1024x768 JPEG (a photo's size), then runs each model as a
process of its own (`coviP-eval`, offline judge, no cache; the peak is the process's
VmHWM, so Linux only) and prints one table row per run:
samples, size on disk, the process's peak resident memory, seconds, samples per second, and
image decodes per distinct image. `blind` and `retrieval` run the `covip` group; `tiny-random`
(transformers on CPU, replies capped at 64 tokens: its memory does not depend on their length)
and `openai-compatible` (against a local server that answers at once) run CapEval-QA, the task
with the most images; `tiny-random` at every size on a GPU, and on a CPU only at 1x and on the
photo-sized copy (at 5x its CPU generation alone would take an hour). `train-data` is
coviP-train's data step: its GRPO prompts built and written to the Arrow file that TRL reads
(the trainer's default image cap).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_judge import LatencyServer

from benchmark import CONFIGS, load_benchmark
from benchmark.loading import builtin_folder
from benchmark.mini import MiniSizes
from benchmark.storage import config_files, iter_parquet_rows, write_config, write_manifest

DEFAULT = MiniSizes()
PHOTO_SIZE = (1024, 768)
TASKS = {"blind": "covip", "retrieval": "covip", "tiny-random": "capeval_qa",
         "openai-compatible": "capeval_qa", "train-data": "capeval_qa"}
ONE_X_ONLY = {"tiny-random"}  # on a CPU


def mini_spec(multiple: int) -> str:
    if multiple == 1:
        return "builtin:mini"
    return (f"builtin:mini?capeval_per_count={DEFAULT.capeval_per_count * multiple}"
            f"&lsd={DEFAULT.lsd * multiple}&lar={DEFAULT.lar * multiple}"
            f"&itr={DEFAULT.itr * multiple}")


def photo_sized(source: Path, out: Path) -> Path:
    """A copy of a dataset folder with every image re-encoded as a photo-sized JPEG."""
    from PIL import Image

    def jpeg(cell: dict) -> dict:
        with Image.open(io.BytesIO(cell["bytes"])) as img:
            buffer = io.BytesIO()
            img.convert("RGB").resize(PHOTO_SIZE).save(buffer, format="JPEG", quality=90)
        return {"bytes": buffer.getvalue(), "path": None}

    if (out / "covip_dataset.json").exists():
        return out
    for config in CONFIGS:
        rows = []
        for row, *_ in iter_parquet_rows(config_files(source, config)):
            row["query_image"] = jpeg(row["query_image"])
            row["images_context"] = [jpeg(c) for c in row["images_context"]]
            rows.append(row)
        write_config(out, config, rows)
    write_manifest(out, {"spec": f"{source.name} re-encoded as {PHOTO_SIZE} JPEGs"})
    return out


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*.parquet"))


@functools.cache  # one count per dataset and task, whichever models run on it
def distinct_images(dataset: str, task: str) -> int:
    images: set[str] = set()
    for config in ["capeval_qa"] if task == "capeval_qa" else CONFIGS:
        for sample in load_benchmark(dataset, config, progress=False).samples:
            images.update([sample.query_image.sha256, *(c.image.sha256 for c in sample.context)])
    return len(images)


# the child reports its own peak: a forked child's ru_maxrss starts at its parent's size
PEAK = ("status = open('/proc/self/status').read()\n"
        "print('PEAK_KB', status.split('VmHWM:')[1].split()[0], file=sys.stderr)\n")
CHILD = ("import sys\nfrom covip_eval.cli.evaluate import main\ncode = main(sys.argv[1:])\n" + PEAK
         + "sys.exit(code)\n")
TRAIN_CHILD = ("import sys\nfrom benchmark.images import decode_count\n"
               "from coviP_train.config import CovipArguments\n"
               "from coviP_train.data import build_prompts\n"
               "config = CovipArguments()\n"
               "prompts = build_prompts(sys.argv[1], None, config.max_images, config.max_pixels)\n"
               "rows = len(prompts.as_dataset())\n"
               "print('ROWS', rows, decode_count(), file=sys.stderr)\n" + PEAK)


def train_data(dataset: str) -> tuple[float, float, int, int]:
    """Peak resident megabytes and seconds of coviP-train's data step, its rows and decodes."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", TRAIN_CHILD, dataset], capture_output=True,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or "PEAK_KB" not in done.stderr:
        raise SystemExit(f"the data step on {dataset} failed:\n{done.stderr[-2000:]}")
    rows, decodes = map(int, done.stderr.rsplit("ROWS", 1)[1].split()[:2])
    return int(done.stderr.rsplit("PEAK_KB", 1)[1].split()[0]) / 1024, seconds, rows, decodes


def run(model: str, dataset: str, out: Path, extra: list[str]) -> tuple[float, float, dict]:
    """Peak resident megabytes and seconds of one `coviP-eval` process, and its results."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, "--model", model, "--tasks", TASKS[model],
                           "--dataset", dataset, "--judge", "lexical", "--use_cache", "none",
                           "--output_path", str(out),
                           "--no_progress", *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3) or "PEAK_KB" not in done.stderr:
        raise SystemExit(f"{model} on {dataset} failed:\n{done.stderr[-2000:]}")
    peak_kb = int(done.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    results = json.loads(max(out.rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
                         .read_text())
    return peak_kb / 1024, seconds, results


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,5,20")
    parser.add_argument("--models",
                        default="blind,retrieval,tiny-random,openai-compatible,train-data")
    parser.add_argument("--no_photo", action="store_true")
    args = parser.parse_args()
    cuda = _has_cuda()
    datasets = [(f"{m}x", mini_spec(int(m))) for m in args.sizes.split(",")]
    if not args.no_photo:
        photos = Path(tempfile.gettempdir()) / "covip_bench_photo_sized"
        datasets.append(("1x, photo-sized JPEGs",
                         str(photo_sized(builtin_folder("builtin:mini", progress=False),
                                         photos))))
    print("| model | data | samples | on disk | peak memory | seconds | samples/s "
          "| decodes per image |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    with LatencyServer(latency=0.0, slots=64) as server, \
            tempfile.TemporaryDirectory() as tmp:
        for label, dataset in datasets:
            folder = Path(dataset) if Path(dataset).is_dir() else builtin_folder(dataset)
            for model in args.models.split(","):
                if model in ONE_X_ONLY and not cuda and label not in ("1x",
                                                                      "1x, photo-sized JPEGs"):
                    continue
                extra = {"openai-compatible": ["--model_args",
                                               f"base_url={server.url},model=served"],
                         "tiny-random": ["--gen_kwargs", "max_new_tokens=64"]}.get(model, [])
                if model == "train-data":
                    peak, seconds, samples, decodes = train_data(dataset)
                else:
                    peak, seconds, results = run(model, dataset, Path(tmp) / model, extra)
                    samples = sum(n["effective"] for n in results["n-samples"].values())
                    decodes = results["usage"].get("image_decodes", 0)
                images = distinct_images(dataset, TASKS[model])
                print(f"| {model} | {label} | {samples:,} | {folder_bytes(folder) / 1e6:.0f} MB "
                      f"| {peak:,.0f} MB | {seconds:.1f} | {samples / seconds:.1f} "
                      f"| {decodes / images:.2f} |", flush=True)


if __name__ == "__main__":
    main()
