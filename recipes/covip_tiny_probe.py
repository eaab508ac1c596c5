"""Does a covip-tiny checkpoint copy from its context? Every caption target needs it (a name
and its facts, read back from the dialogue that follows the matching photo), so this is the
first thing to check when captions come out as names the prompt never mentions.

The probability the model gives a concept's name at each mention after the first (the
dialogues repeat the name several times per memory), against a uniform guess over the names
it could pick from, read twice on builtin:mini (seed 0, held out): in the full CapEval-QA
prompts, images and all, and in the same concepts' dialogues alone, as text (the warm-up's
form). Copying in the text but not in the prompts means it formed and does not carry over.

    python recipes/covip_tiny_probe.py MODEL_FOLDER [--samples 8]
"""

from __future__ import annotations

import argparse
import io
import statistics

import torch
from PIL import Image

from benchmark.mini import vocab
from covip_eval.models.hf import load_processor
from coviP_train.sft import sft_rows


def repeated_name_probabilities(model, processor, row, names: list[str]) -> list[float]:
    text = processor.apply_chat_template(row["prompt"], add_generation_prompt=True)
    images = [Image.open(io.BytesIO(image["bytes"])) for image in row["images"]]
    return _at_repeated_names(model, processor.tokenizer,
                              processor(text=[text], images=[images], return_tensors="pt"), names)


def repeated_name_probabilities_in_text(model, processor, text: str, name: str) -> list[float]:
    return _at_repeated_names(model, processor.tokenizer,
                              processor.tokenizer([text], return_tensors="pt"), [name])


def _at_repeated_names(model, tokenizer, batch, names: list[str]) -> list[float]:
    ids = batch["input_ids"][0].tolist()
    with torch.no_grad():
        probs = model(**batch).logits[0].float().softmax(-1)
    out = []
    for name in names:
        first = tokenizer(f" {name}", add_special_tokens=False)["input_ids"][0]
        mentions = [i for i, t in enumerate(ids) if t == first]
        out += [probs[i - 1, first].item() for i in mentions[1:]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--samples", type=int, default=8)
    args = parser.parse_args()
    from transformers import AutoModelForImageTextToText

    processor = load_processor(args.model)
    model = AutoModelForImageTextToText.from_pretrained(args.model, dtype=torch.float32).eval()
    data = sft_rows("builtin:mini", ["capeval_qa"], args.samples)
    in_prompts, in_text = [], []
    pairs = list(data.with_samples())
    for sample, row in pairs:
        in_prompts += repeated_name_probabilities(model, processor, row,
                                                  [c.name for c in sample.context])
        for concept in sample.context:
            in_text += repeated_name_probabilities_in_text(model, processor, concept.dialogue,
                                                           concept.name)
    for found, where in ((in_prompts, f"{len(pairs)} prompts"),
                         (in_text, "their dialogues as text")):
        print(f"{len(found)} repeated name mentions in {where}: mean probability "
              f"{statistics.mean(found):.3f}, median {statistics.median(found):.3f}; a uniform "
              f"guess over the {len(vocab.PSEUDONYMS)} names: {1 / len(vocab.PSEUDONYMS):.3f}")


if __name__ == "__main__":
    main()
