"""Which hop of the caption task does a covip-tiny checkpoint fail? Read with its own target
(the SFT caption, teacher-forced) on builtin:mini's held-out CapEval-QA samples:

- the photo hop: where the caption names its first concept, the model's choice among the names
  of the prompt's concepts (their first tokens); right when it is the concept in the photo.
  Chance: one in the number of memories (3 for 1-concept samples);
- the facts hop: with the right name already written, the share of the facts' tokens the model
  predicts (argmax), against the share of the caption's fixed wording ("I can see", ":", ";").

Facts copied but names at chance: the model cannot match the photo. Names right but facts
missed: it cannot find what the named concept's dialogue says.

    python recipes/covip_tiny_hops.py MODEL_FOLDER [--counts 1] [--samples 50]
"""

from __future__ import annotations

import argparse
import io
import re

import torch
from PIL import Image

from benchmark import CapEvalSample
from covip_eval.models.hf import load_processor
from coviP_train.sft import caption_target, sft_rows


def token_kinds(target: str, sample: CapEvalSample, offsets: list[tuple[int, int]]) -> list[str]:
    """Per target token: "name", "fact" or "form", by the characters it covers."""
    kind = ["form"] * len(target)
    for k in sample.positive_indices:
        concept = sample.context[k]
        spans = [(concept.name, "name"), *((v, "fact") for v in concept.facts.values())]
        for text, label in spans:
            for match in re.finditer(re.escape(text), target):
                kind[match.start():match.end()] = [label] * len(text)
    labels = []
    for start, end in offsets:
        covered = {kind[i] for i in range(start, end) if not target[i].isspace()}
        labels.append("name" if "name" in covered else "fact" if "fact" in covered else "form")
    return labels


def read_hops(model, processor, sample: CapEvalSample, row: dict) -> dict[str, list[int]] | None:
    """Right (1) or wrong (0) per name choice and per token kind; None if the target does not
    tokenize the same inside the conversation as alone."""
    tokenizer = processor.tokenizer
    target = caption_target(sample)
    prompt = processor.apply_chat_template(row["prompt"], add_generation_prompt=True)
    images = [Image.open(io.BytesIO(image["bytes"])) for image in row["images"]]
    inputs = processor(text=[prompt + target], images=[images], return_tensors="pt")
    alone = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
    ids = inputs["input_ids"][0].tolist()
    start = len(ids) - len(alone["input_ids"])
    if ids[start:] != alone["input_ids"]:
        return None
    with torch.no_grad():
        logits = model(**inputs).logits[0, start - 1:-1].float()
    predicted = logits.argmax(-1).tolist()
    kinds = token_kinds(target, sample, alone["offset_mapping"])
    right: dict[str, list[int]] = {"name choice": [], "name": [], "fact": [], "form": []}
    for position, (kind, truth) in enumerate(zip(kinds, alone["input_ids"])):
        right[kind].append(int(predicted[position] == truth))
    first_name = kinds.index("name")
    candidates = [tokenizer(f" {c.name}", add_special_tokens=False)["input_ids"][0]
                  for c in sample.context]
    if len(set(candidates)) == len(candidates):  # else the first token cannot tell them apart
        chosen = max(candidates, key=lambda token: logits[first_name, token].item())
        right["name choice"].append(int(chosen == alone["input_ids"][first_name]))
    return right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--counts", type=int, nargs="+", default=[1],
                        help="numbers of concepts of the samples read")
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    from transformers import AutoModelForImageTextToText

    processor = load_processor(args.model)
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32).eval()
    data = sft_rows("builtin:mini", ["capeval_qa"], args.samples, args.counts)
    pairs = list(data.with_samples())
    samples = [s for s, _ in pairs if isinstance(s, CapEvalSample)]
    totals: dict[str, list[int]] = {}
    skipped = 0
    for sample, row in pairs:
        assert isinstance(sample, CapEvalSample)
        right = read_hops(model, processor, sample, row)
        if right is None:
            skipped += 1
            continue
        for kind, marks in right.items():
            totals.setdefault(kind, []).extend(marks)
    memories = sorted({len(s.context) for s in samples})
    print(f"{len(samples) - skipped} samples with {args.counts} concepts ({skipped} skipped: "
          f"target tokenized otherwise in the conversation)")
    for kind, marks in totals.items():
        chance = (f" (chance: 1 in {' or '.join(map(str, memories))})"
                  if kind == "name choice" else "")
        print(f"  {kind:12s} {100 * sum(marks) / max(len(marks), 1):5.1f}% of {len(marks)}{chance}")


if __name__ == "__main__":
    main()
