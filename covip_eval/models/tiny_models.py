"""Qwen3-VL at toy sizes, built locally: the byte-level tokenizer, the image-only processor
(no video processor, so no torchvision), random-weight models (tiny-random's default family,
the benchmarks' 2B and 8B shapes) and covip-tiny's architecture and BPE tokenizer.

The real architecture (vision tower, deepstack, M-RoPE) runs with no hub and no weights; the
other families, and the cached tiny-random folders, are in `covip_eval.models.tiny_families`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                  "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
TINY_TEXT = {
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
    "max_position_embeddings": 32768, "initializer_range": 0.5,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                        "mrope_section": [8, 4, 4], "mrope_interleaved": True},
}
TINY_VISION = {
    "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": 16,
    "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 64,
    "deepstack_visual_indexes": [1], "num_position_embeddings": 64,
}
CHAT_TEMPLATE = Path(__file__).parent.parent / "data" / "chat_templates" / "qwen3_vl.jinja"


def _byte_symbols() -> list[str]:
    """The byte-level BPE alphabet: printable bytes stand for themselves, the other bytes are
    shifted past 255 so that every byte has a visible symbol."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    symbols, shift = {}, 0
    for byte in range(256):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + shift)
            shift += 1
    return [symbols[b] for b in range(256)]


def byte_tokenizer(special: tuple[str, ...] = SPECIAL_TOKENS, *, eos: str = "<|im_end|>",
                   pad: str = "<|endoftext|>", bos: str | None = None,
                   named: dict[str, str] | None = None):
    """A byte-level tokenizer (no merges) with a family's special tokens; `named` ones become
    attributes that processors read (for example Gemma 3's `boi_token`)."""
    from transformers import Qwen2Tokenizer

    vocab = {symbol: i for i, symbol in enumerate(_byte_symbols())}
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=bos,  # type: ignore[arg-type]
                               eos_token=eos, pad_token=pad, extra_special_tokens=named or {})
    tokenizer.add_special_tokens({"additional_special_tokens": list(special)})
    tokenizer.padding_side = "left"
    return tokenizer


def image_only(processor_class: type) -> type:
    """`processor_class` with its video slot left empty: video processors need torchvision.
    (A subclass, because a processor's parts are read from its constructor's signature.)"""
    class ImageOnly(processor_class):  # type: ignore[misc, valid-type]
        def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
            super().__init__(image_processor=image_processor, tokenizer=tokenizer,
                             video_processor=None, chat_template=chat_template, **kwargs)

    ImageOnly.__name__ = ImageOnly.__qualname__ = f"ImageOnly{processor_class.__name__}"
    return ImageOnly


AUTO_PROCESSOR_MODULE = "processing_image_only"
_AUTO_PROCESSOR_SOURCE = '''"""An image-only processor: its video slot left empty (video
processors need torchvision). Written by covip-eval so that AutoProcessor
(trust_remote_code=True) loads this folder."""

from transformers import {base}


class {name}({base}):
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor=image_processor, tokenizer=tokenizer,
                         video_processor=None, chat_template=chat_template, **kwargs)
'''


def write_auto_processor(folder: Path, processor: Any) -> None:
    """Make a saved image-only processor loadable by transformers' AutoProcessor (as lm-eval's
    `hf-multimodal` loads one, with `trust_remote_code=True`): its class's source beside it,
    named in `processor_config.json`'s `auto_map`. A standard processor needs nothing."""
    cls = type(processor)
    if not cls.__name__.startswith("ImageOnly"):
        return
    (folder / f"{AUTO_PROCESSOR_MODULE}.py").write_text(_AUTO_PROCESSOR_SOURCE.format(
        base=cls.__mro__[1].__name__, name=cls.__name__))
    path = folder / "processor_config.json"
    config = json.loads(path.read_text())
    config["auto_map"] = {"AutoProcessor": f"{AUTO_PROCESSOR_MODULE}.{cls.__name__}"}
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def processor_class():
    """Qwen3-VL's processor with only an image processor and a tokenizer."""
    from transformers import Qwen3VLProcessor

    return image_only(Qwen3VLProcessor)


def build_processor(max_pixels: int = 64 * 64 * 4, tokenizer: Any = None):
    """The offline image-only processor; the byte-level tokenizer unless one is given."""
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil(
        patch_size=16, merge_size=2, temporal_patch_size=2,
        size={"shortest_edge": 32 * 32, "longest_edge": max_pixels},
    )
    return processor_class()(image_processor, tokenizer or byte_tokenizer(),
                             chat_template=CHAT_TEMPLATE.read_text())


def random_qwen3vl(tokenizer, text_config: dict, vision_config: dict, *, tie: bool,
                   device: str = "cpu", dtype: str = "float32"):
    """A Qwen3-VL with random weights, its special token ids taken from `tokenizer`."""
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"),
    )}
    config = Qwen3VLConfig(
        text_config={**text_config, "pad_token_id": tokenizer.pad_token_id,
                     "eos_token_id": tokenizer.eos_token_id},
        vision_config=vision_config, tie_word_embeddings=tie, **ids)
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=getattr(torch, dtype))
    model.eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def servable_processor(processor):
    """The same processor as the standard Qwen3-VL one (with a video processor), which servers
    such as vLLM load with AutoProcessor. Needs an importable torchvision."""
    from transformers import Qwen3VLProcessor
    from transformers.models.qwen3_vl import Qwen3VLVideoProcessor

    video = Qwen3VLVideoProcessor(patch_size=16, merge_size=2, temporal_patch_size=2)
    return Qwen3VLProcessor(processor.image_processor, processor.tokenizer, video,
                            chat_template=processor.chat_template)


# covip-tiny: the few-million-parameter Qwen3-VL that coviP-train trains (recipes/covip_tiny.sh).
COVIP_TINY_TEXT = {
    "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 4,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
    "max_position_embeddings": 32768, "initializer_range": 0.02,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                        "mrope_section": [16, 8, 8], "mrope_interleaved": True},
}
COVIP_TINY_VISION = {
    "depth": 3, "hidden_size": 128, "intermediate_size": 384, "num_heads": 4, "patch_size": 16,
    "spatial_merge_size": 2, "temporal_patch_size": 2, "out_hidden_size": 256,
    "deepstack_visual_indexes": [1], "num_position_embeddings": 256, "initializer_range": 0.02,
}
COVIP_TINY_MAX_PIXELS = 192 * 192  # a 160x160 context image is 25 tokens, a query about 35


def train_bpe_tokenizer(texts: Any, vocab_size: int):
    """A byte-level BPE trained on `texts` (an iterable of strings), with Qwen's special tokens
    and the same left padding and end-of-turn token as the byte-level one."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    tokenizer.padding_side = "left"
    return tokenizer


def build_covip_tiny(tokenizer, seed: int, device: str = "cpu"):
    """covip-tiny's architecture with fresh weights (seeded), sized to `tokenizer`."""
    import torch

    torch.manual_seed(seed)
    return random_qwen3vl(tokenizer, COVIP_TINY_TEXT | {"vocab_size": len(tokenizer)},
                          COVIP_TINY_VISION, tie=True, device=device)
