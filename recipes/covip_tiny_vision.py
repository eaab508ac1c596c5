"""covip-tiny's vision stage: teach the vision tower to find a context photo's concept in a
scene, before the language model is asked to.

Trained on the language model's loss alone, the tower's features do not tell which of a
prompt's concepts a photo shows (docs/covip_tiny.md). Here it gets a task of its own: for each
CapEval-QA training sample, score every (scene, context photo) pair by how well each of the
photo's tokens finds a match among the scene's (late interaction, as ColBERT's), and learn,
as a binary decision per pair (a sigmoid loss, as SigLIP's), whether that concept is in the
scene. Only the tower (and two scalars: the score's scale and bias) is trained; the model is
saved whole, ready for SFT.

    python recipes/covip_tiny_vision.py --model FOLDER (--dataset SPEC | --fresh SEED)
        --out FOLDER [--steps 600] [--batch 16] [--lr 1e-3] [--query_pixels N]
        [--contrastive W] [--workers 2] [--device cpu|cuda] [--evaluation builtin:mini]

`--fresh SEED` generates builtin:mini samples of that seed as they are needed, so no sample is
seen twice; `--query_pixels` lets the query scene keep more pixels than the context photos (at
4 concepts each object of a 192x160 scene covers about one merged token); `--contrastive`
adds a softmax over each sample's context photos to the per-pair loss.

Every `--eval_every` steps it prints the pair loss and the decisions' accuracy on held-out
training samples (200 of the dataset's, or a fifth of a smaller one; never trained on), with
top-n recall (of a sample with n concepts, the share of them among its n best-scored context
photos) and the 1-concept samples' choice among their three context photos (chance: 1 in 3),
and saves the
model to `--out` with those numbers (`vision_stage.json`), so a run stopped by a time limit
keeps its last; at the end, the same measurements on the evaluation set (`--evaluation`,
builtin:mini at seed 0: measured, never trained on or selected by).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AutoModelForImageTextToText

from benchmark import CapEvalSample, load_benchmark
from benchmark.mini import MiniSizes, generate
from covip_eval.models.hf import load_processor
from covip_eval.models.qwen3vl_attention import use_grouped_vision_attention

HELD_OUT = 200


class Fresh:
    """CapEval-QA samples of a builtin:mini seed generated as they are needed: a run of any
    length never sees a sample twice (the k-th sample is the same on every run)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __getitem__(self, index: int) -> CapEvalSample:
        return generate.capeval_sample(self.seed, index, MiniSizes())


@dataclass(frozen=True)
class Layout:
    """What training needs of a sample beside its pixels (light enough to cross from the
    loader's worker processes)."""

    context_size: int
    positive_indices: tuple[int, ...]

    @classmethod
    def of(cls, sample: CapEvalSample) -> Layout:
        return cls(len(sample.context), sample.positive_indices)

    @property
    def n_concepts(self) -> int:
        return len(self.positive_indices)


class Batches(torch.utils.data.Dataset):
    """Batch `i`: `size` samples with their images processed (in the loader's workers): the
    query by `query_processor` (a larger pixel cap, where one is set), the context photos by
    `image_processor`. From a list, shuffled per epoch by `seed`; from `Fresh`, samples never
    seen before; `size` None: the list in order, in batches of 16."""

    def __init__(self, samples: list[CapEvalSample] | Fresh, image_processor, query_processor,
                 size: int | None = None, steps: int = 0, seed: int = 0) -> None:
        self.samples, self.image_processor = samples, image_processor
        self.query_processor = query_processor
        if isinstance(samples, Fresh):
            assert size is not None
            self.batches = [list(range(i * size, (i + 1) * size)) for i in range(steps)]
        elif size is None:
            self.batches = [list(range(i, min(i + 16, len(samples))))
                            for i in range(0, len(samples), 16)]
        else:
            rng, order = random.Random(seed), []
            while len(order) < steps * size:
                order += rng.sample(range(len(samples)), len(samples))
            self.batches = [order[i * size:(i + 1) * size] for i in range(steps)]

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[list[Layout], dict[str, torch.Tensor]]:
        batch = [self.samples[k] for k in self.batches[i]]
        scenes = self.query_processor(images=[s.query_image.to_pil() for s in batch],
                                      return_tensors="pt")
        photos = self.image_processor(images=[c.image.to_pil() for s in batch
                                              for c in s.context], return_tensors="pt")
        return [Layout.of(s) for s in batch], {key: torch.cat([scenes[key], photos[key]])
                                               for key in ("pixel_values", "image_grid_thw")}


def loader(batches: Batches, workers: int) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(batches, batch_size=None, num_workers=workers)


def pair_scores(model, merge: int, samples: list[Layout], inputs: dict[str, torch.Tensor],
                device: str) -> list[torch.Tensor]:
    """Per sample, for each context photo: its tokens' cosine with their best-matching scene
    token, averaged. The inputs hold the samples' scenes first, then every context photo."""
    grid = inputs["image_grid_thw"].to(device)
    features = model.model.visual(inputs["pixel_values"].to(device), grid_thw=grid)
    per_image = torch.split(features.pooler_output, (grid.prod(-1) // merge).tolist())
    scenes, at = per_image[:len(samples)], len(samples)
    scores = []
    for sample, scene in zip(samples, scenes):
        scene = F.normalize(scene, dim=-1)
        photos = per_image[at:at + sample.context_size]
        # each photo token's best match in the scene, averaged over the photo (late interaction);
        # the photos of one size in one product
        score = torch.empty(len(photos), device=scene.device)
        for size in {len(p) for p in photos}:
            index = [k for k, p in enumerate(photos) if len(p) == size]
            tokens = F.normalize(torch.stack([photos[k] for k in index]), dim=-1)
            score[index] = (tokens @ scene.T).max(dim=-1).values.mean(dim=-1)
        scores.append(score)
        at += sample.context_size
    return scores


def labels(sample: Layout, device: str) -> torch.Tensor:
    present = torch.zeros(sample.context_size, device=device)
    present[list(sample.positive_indices)] = 1.0
    return present


@torch.no_grad()
def evaluate(model, merge: int, head, samples, image_processor, query_processor, device: str,
             workers: int) -> dict[str, float]:
    """Pair decisions' accuracy on present and on absent concepts; top-n recall (of a sample
    with n concepts, the share of them among its n best-scored context photos: the gate's
    measure), overall and per number of concepts; and the 1-concept samples' choice among
    their context photos."""
    right: dict[str, list[int]] = {"present": [0, 0], "absent": [0, 0],
                                   "choice among 3 (1 concept)": [0, 0],
                                   "top-n recall": [0, 0]}
    for batch, inputs in loader(Batches(samples, image_processor, query_processor), workers):
        for sample, score in zip(batch, pair_scores(model, merge, batch, inputs, device)):
            decided = head(score) > 0
            truth = labels(sample, device).bool()
            for key, mask in (("present", truth), ("absent", ~truth)):
                right[key][0] += int((decided[mask] == truth[mask]).sum())
                right[key][1] += int(mask.sum())
            found = count_top_n(right, score, truth)
            if sample.n_concepts == 1:
                right["choice among 3 (1 concept)"][0] += found
                right["choice among 3 (1 concept)"][1] += 1
    return percentages(right)


def count_top_n(right: dict[str, list[int]], score: torch.Tensor, truth: torch.Tensor) -> int:
    """Add a sample's top-n recall to the tallies (overall and at its number of concepts);
    returns how many present concepts its n best-scored context photos hold."""
    n = int(truth.sum())
    found = int(truth[score.topk(n).indices].sum())
    for key in ("top-n recall", f"top-n recall ({n} concepts)"):
        right.setdefault(key, [0, 0])
        right[key][0] += found
        right[key][1] += n
    return found


def percentages(right: dict[str, list[int]]) -> dict[str, float]:
    return {k: round(100 * a / max(n, 1), 1) for k, (a, n) in sorted(right.items())}


def pair_loss(head, score: torch.Tensor, truth: torch.Tensor, contrastive: float
              ) -> torch.Tensor:
    """The per-pair sigmoid loss, plus `contrastive` times a softmax over the sample's context
    photos whose targets are its present concepts (the photos compete for the scene)."""
    logits = head(score)
    loss = F.binary_cross_entropy_with_logits(logits, truth)
    if contrastive:
        loss = loss + contrastive * (torch.logsumexp(logits, 0)
                                     - torch.logsumexp(logits[truth.bool()], 0))
    return loss


class Head(torch.nn.Module):
    """score -> logit: a learned scale and bias, as SigLIP's."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))
        self.bias = torch.nn.Parameter(torch.tensor(-5.0))

    def forward(self, score: torch.Tensor) -> torch.Tensor:
        return score * self.scale + self.bias


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default=None, help="a dataset spec, or none with --fresh")
    parser.add_argument("--fresh", type=int, default=None, metavar="SEED",
                        help="train on builtin:mini samples of this seed generated as needed "
                             "(never one twice); held out: 400 samples of SEED + 1")
    parser.add_argument("--out", required=True)
    parser.add_argument("--evaluation", default="builtin:mini", help="measured at the end")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--query_pixels", type=int, default=None,
                        help="pixel cap of the query scene (default: the processor's, as "
                             "the context photos')")
    parser.add_argument("--contrastive", type=float, default=0.0,
                        help="weight of the softmax loss over a sample's context photos")
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="image-processing processes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if (args.dataset is None) == (args.fresh is None):
        parser.error("give --dataset or --fresh")

    torch.manual_seed(args.seed)
    processor = load_processor(args.model)
    images, merge = processor.image_processor, processor.image_processor.merge_size ** 2
    queries = with_pixel_cap(images, args.query_pixels)
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32)
    model.to(args.device)
    use_grouped_vision_attention(model)
    train: list[CapEvalSample] | Fresh
    if args.fresh is not None:
        train = Fresh(args.fresh)
        check = [Fresh(args.fresh + 1)[k] for k in range(2 * HELD_OUT)]
    else:
        samples = capeval_samples(args.dataset)
        rng = random.Random(args.seed)
        held_out = set(rng.sample(range(len(samples)), min(HELD_OUT, len(samples) // 5)))
        train = [s for i, s in enumerate(samples) if i not in held_out]
        check = [s for i, s in enumerate(samples) if i in held_out]
    head = Head().to(args.device)
    tower = model.model.visual
    optimizer = torch.optim.AdamW([*tower.parameters(), *head.parameters()], lr=args.lr,
                                  weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps,
                                                   pct_start=0.05)
    settings = {k: getattr(args, k) for k in ("dataset", "fresh", "steps", "batch", "lr",
                                              "query_pixels", "contrastive", "seed")}
    evaluation = capeval_samples(args.evaluation)
    tower.eval()
    before = {"shipped tower": evaluate(model, merge, head, evaluation, images, queries,
                                        args.device, args.workers),
              "colour histogram": histogram_recall(evaluation)}
    print(json.dumps({"evaluation set before training": before}), flush=True)
    tower.train()
    losses = []
    batches = Batches(train, images, queries, args.batch, args.steps, args.seed)
    for step, (batch, inputs) in enumerate(loader(batches, args.workers), start=1):
        scores = pair_scores(model, merge, batch, inputs, args.device)
        loss = torch.stack([pair_loss(head, s, labels(b, args.device), args.contrastive)
                            for s, b in zip(scores, batch)]).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % args.eval_every == 0 or step == args.steps:
            tower.eval()
            record = {"step": step, "settings": settings,
                      "loss": round(sum(losses) / len(losses), 4),
                      "held_out": evaluate(model, merge, head, check, images, queries,
                                           args.device, args.workers)}
            print(json.dumps(record), flush=True)
            save(model, args.model, Path(args.out), record)  # a stopped run keeps its last
            tower.train()
            losses = []
    tower.eval()
    record[f"evaluation set ({args.evaluation})"] = evaluate(
        model, merge, head, evaluation, images, queries, args.device, args.workers)
    record["evaluation set before training"] = before
    print(json.dumps(record), flush=True)
    write_record(Path(args.out), record)  # the model is the last evaluation's, saved there
    print(f"saved {args.out}")


def histogram_recall(samples: list[CapEvalSample]) -> dict[str, float]:
    """Top-n recall of the `retrieval` baseline's colour match (its presence score), the
    measure the tower must beat."""
    from covip_eval.models.visual_match import hue_signature, presence_score

    right: dict[str, list[int]] = {}
    for sample in samples:
        scene = hue_signature(sample.query_image.to_pil())
        score = torch.tensor([presence_score(hue_signature(c.image.to_pil()), scene)
                              for c in sample.context])
        count_top_n(right, score, labels(Layout.of(sample), "cpu").bool())
    return percentages(right)


def with_pixel_cap(image_processor, pixels: int | None):
    """A copy of the image processor whose images hold at most `pixels` (Qwen-VL keeps the cap
    as `size.longest_edge`); the processor itself where `pixels` is None."""
    if pixels is None:
        return image_processor
    copy = deepcopy(image_processor)
    copy.size = {**dict(copy.size), "longest_edge": pixels}
    return copy


def capeval_samples(spec: str) -> list[CapEvalSample]:
    return [s for s in load_benchmark(spec, "capeval_qa").samples
            if isinstance(s, CapEvalSample)]


def save(model, source: str, out: Path, record: dict) -> None:
    """The whole model (its processor's files copied from `source`) and, beside it, the step
    and measurements it was saved at."""
    shutil.copytree(source, out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("model.safetensors", "README.md", "checkpoint-*"))
    model.save_pretrained(out)
    write_record(out, record)


def write_record(out: Path, record: dict) -> None:
    (out / "vision_stage.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
