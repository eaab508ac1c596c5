"""Tiny random-weight models of the open VLM families, built offline: `tiny-random family=NAME`.

Each family is its transformers classes at toy sizes (2 text layers, a 2-block vision tower),
a byte-level tokenizer holding that family's special tokens, the family's own image processor
(the PIL variant: no torchvision), and a chat template that writes turns, image markers and the
generation prompt in the family's own tokens (covip_eval/data/chat_templates/). The processors
are image-only: families whose processor has a video slot get it empty, since their video
processors need torchvision. Their text is noise; they run the real code path of each family.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.loading import cache_dir
from benchmark.storage import AtomicFolder
from covip_eval.errors import ConfigError
from covip_eval.models.tiny_models import (
    SPECIAL_TOKENS,
    TINY_TEXT,
    TINY_VISION,
    byte_tokenizer,
    image_only,
    processor_class,
    random_qwen3vl,
    servable_processor,
    write_auto_processor,
)

FACTORY_VERSION = "5"
MARKER = "covip_tiny_random.json"
RANK_WAIT_SECONDS = 300
TEMPLATES = Path(__file__).parent.parent / "data" / "chat_templates"
CHATML = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# a small Llama/Qwen2-style text model; each family adds its own fields
TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
        "max_position_embeddings": 32768, "initializer_range": 0.5}
SIGLIP = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 2, "patch_size": 16}


@dataclass(frozen=True)
class Tokens:
    """A family's special tokens: `named` ones become tokenizer attributes (boi_token, ...)."""
    eos: str
    pad: str
    special: tuple[str, ...]
    bos: str | None = None
    named: dict[str, str] = field(default_factory=dict)
    plain: tuple[str, ...] = ()  # whole-string tokens that are not special (Gemma's newlines)

    def tokenizer(self) -> Any:
        tokenizer = byte_tokenizer(self.special, eos=self.eos, pad=self.pad, bos=self.bos,
                                   named=self.named)
        tokenizer.add_tokens(list(self.plain))
        return tokenizer


@dataclass(frozen=True)
class Family:
    name: str
    tokens: Tokens
    image_processor: Callable[[], Any]  # a fresh one at toy sizes; also its class for loading
    processor: Callable[..., Any]  # (image_processor, tokenizer, chat_template) -> processor
    model: Callable[[Any], Any]  # tokenizer -> model with random weights (seeded by the caller)

    @property
    def chat_template(self) -> str:
        template = "qwen3_vl" if self.name == "qwen3_vl_moe" else self.name
        return (TEMPLATES / f"{template}.jinja").read_text()

    def build_processor(self, tokenizer: Any = None, image_processor: Any = None) -> Any:
        processor = self.processor(image_processor or self.image_processor(),
                                   tokenizer or self.tokens.tokenizer(), self.chat_template)
        processor.tokenizer.padding_side = "left"
        return processor


def _ids(tokenizer: Any, **tokens: str) -> dict[str, Any]:
    return {key: tokenizer.convert_tokens_to_ids(token) for key, token in tokens.items()}


def _text(tokenizer: Any, **extra: Any) -> dict[str, Any]:
    return {**TEXT, "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id, "bos_token_id": tokenizer.bos_token_id,
            **extra}


def _instantiate(model_class: Any, config: Any) -> Any:
    import torch

    return model_class._from_config(config, dtype=torch.float32).eval()


# --- Qwen -------------------------------------------------------------------------------------

QWEN_TOKENS = Tokens(eos="<|im_end|>", pad="<|endoftext|>", special=SPECIAL_TOKENS)


def _qwen_image_processor(patch_size: int) -> Callable[[], Any]:
    def build() -> Any:
        from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

        return Qwen2VLImageProcessorPil(
            patch_size=patch_size, merge_size=2, temporal_patch_size=2,
            size={"shortest_edge": 32 * 32, "longest_edge": 64 * 64 * 4})
    return build


def _qwen3_vl_processor(image_processor: Any, tokenizer: Any, chat_template: str) -> Any:
    return processor_class()(image_processor, tokenizer, chat_template=chat_template)


def _qwen3_vl(tokenizer: Any) -> Any:
    return random_qwen3vl(tokenizer, TINY_TEXT | {"vocab_size": len(tokenizer)}, TINY_VISION,
                          tie=True)


def _qwen3_vl_moe(tokenizer: Any) -> Any:
    from transformers import Qwen3VLMoeConfig, Qwen3VLMoeForConditionalGeneration

    text = {k: v for k, v in TINY_TEXT.items()} | {
        "vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id, "num_experts": 4, "num_experts_per_tok": 2,
        "moe_intermediate_size": 32, "decoder_sparse_step": 1}
    config = Qwen3VLMoeConfig(text_config=text, vision_config=TINY_VISION,
                              tie_word_embeddings=True, **_qwen_vision_ids(tokenizer))
    return _instantiate(Qwen3VLMoeForConditionalGeneration, config)


def _qwen_vision_ids(tokenizer: Any) -> dict[str, Any]:
    return _ids(tokenizer, image_token_id="<|image_pad|>", video_token_id="<|video_pad|>",
                vision_start_token_id="<|vision_start|>", vision_end_token_id="<|vision_end|>")


def _qwen2_5_vl(tokenizer: Any) -> Any:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    vision = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
              "out_hidden_size": 64, "window_size": 56, "fullatt_block_indexes": [1]}
    text = _text(tokenizer, head_dim=None, rope_parameters={
        "rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]})
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=True,
                              **_qwen_vision_ids(tokenizer))
    return _instantiate(Qwen2_5_VLForConditionalGeneration, config)


def _qwen2_5_vl_processor(image_processor: Any, tokenizer: Any, chat_template: str) -> Any:
    from transformers import Qwen2_5_VLProcessor

    return image_only(Qwen2_5_VLProcessor)(image_processor, tokenizer, chat_template)


# --- Gemma 3 ----------------------------------------------------------------------------------

GEMMA_IMAGE_SIZE = 64  # 4 x 4 patches, pooled to 2 x 2 = 4 tokens an image
GEMMA_TOKENS_PER_IMAGE = 4
GEMMA3_TOKENS = Tokens(
    eos="<end_of_turn>", pad="<pad>", bos="<bos>",
    special=("<pad>", "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>",
             "<start_of_image>", "<end_of_image>", "<image_soft_token>"),
    named={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
           "image_token": "<image_soft_token>"},
    plain=("\n", "\n\n", "\n\n\n", "\n\n\n\n"))  # in Gemma's vocabulary; vLLM looks them up


def _gemma3_image_processor() -> Any:
    from transformers.models.gemma3 import Gemma3ImageProcessorPil

    return Gemma3ImageProcessorPil(size={"height": GEMMA_IMAGE_SIZE, "width": GEMMA_IMAGE_SIZE},
                                   do_pan_and_scan=False)


def _gemma3_processor(image_processor: Any, tokenizer: Any, chat_template: str) -> Any:
    from transformers import Gemma3Processor

    return Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer,
                           chat_template=chat_template, image_seq_length=GEMMA_TOKENS_PER_IMAGE)


def _gemma3(tokenizer: Any) -> Any:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text = _text(tokenizer, query_pre_attn_scalar=32, sliding_window=512,
                 layer_types=["sliding_attention", "full_attention"])
    vision = {**SIGLIP, "image_size": GEMMA_IMAGE_SIZE, "model_type": "siglip_vision_model"}
    config = Gemma3Config(text_config=text, vision_config=vision,
                          mm_tokens_per_image=GEMMA_TOKENS_PER_IMAGE,
                          **_ids(tokenizer, boi_token_index="<start_of_image>",
                                 eoi_token_index="<end_of_image>",
                                 image_token_index="<image_soft_token>"))
    return _instantiate(Gemma3ForConditionalGeneration, config)


# --- LLaVA-OneVision --------------------------------------------------------------------------

LLAVA_TILE = 32  # a 32 x 32 tile is 2 x 2 patches = 4 tokens
LLAVA_PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64]]
LLAVA_TOKENS = Tokens(eos="<|im_end|>", pad="<|endoftext|>",
                      special=(*CHATML, "<image>", "<video>"),
                      named={"image_token": "<image>", "video_token": "<video>"})


def _llava_image_processor() -> Any:
    from transformers.models.llava_onevision import LlavaOnevisionImageProcessorPil

    return LlavaOnevisionImageProcessorPil(size={"height": LLAVA_TILE, "width": LLAVA_TILE},
                                           image_grid_pinpoints=LLAVA_PINPOINTS)


def _llava_processor(image_processor: Any, tokenizer: Any, chat_template: str) -> Any:
    from transformers import LlavaOnevisionProcessor

    return image_only(LlavaOnevisionProcessor)(
        image_processor, tokenizer, chat_template, num_image_tokens=(LLAVA_TILE // 16) ** 2,
        vision_feature_select_strategy="full", vision_aspect_ratio="anyres_max_9")


def _llava_onevision(tokenizer: Any) -> Any:
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

    vision = {**SIGLIP, "image_size": LLAVA_TILE, "model_type": "siglip_vision_model"}
    config = LlavaOnevisionConfig(
        text_config={**_text(tokenizer), "model_type": "qwen2"}, vision_config=vision,
        image_grid_pinpoints=LLAVA_PINPOINTS, vision_feature_select_strategy="full",
        vision_feature_layer=-1, tie_word_embeddings=True,
        **_ids(tokenizer, image_token_index="<image>", video_token_index="<video>"))
    return _instantiate(LlavaOnevisionForConditionalGeneration, config)


# --- Idefics3 ---------------------------------------------------------------------------------

IDEFICS_TILE = 64  # 4 x 4 patches, pixel-shuffled by 2: 4 tokens a tile
IDEFICS_TILE_TOKENS = 4
IDEFICS_SPECIAL = ("<|end_of_text|>", "<|begin_of_text|>", "<fake_token_around_image>",
                   "<image>", "<end_of_utterance>", "<global-img>",
                   *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)))
IDEFICS3_TOKENS = Tokens(eos="<end_of_utterance>", pad="<|end_of_text|>",
                         bos="<|begin_of_text|>", special=IDEFICS_SPECIAL)


def _idefics3_image_processor() -> Any:
    from transformers.models.idefics3 import Idefics3ImageProcessorPil

    return Idefics3ImageProcessorPil(size={"longest_edge": 2 * IDEFICS_TILE},
                                     max_image_size={"longest_edge": IDEFICS_TILE})


def _idefics3_processor(image_processor: Any, tokenizer: Any, chat_template: str) -> Any:
    from transformers import Idefics3Processor

    return Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer,
                             chat_template=chat_template, image_seq_len=IDEFICS_TILE_TOKENS)


def _idefics3(tokenizer: Any) -> Any:
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    vision = {**SIGLIP, "image_size": IDEFICS_TILE}
    config = Idefics3Config(text_config={**_text(tokenizer), "model_type": "llama"},
                            vision_config=vision, scale_factor=2, tie_word_embeddings=True,
                            **_ids(tokenizer, image_token_id="<image>"))
    return _instantiate(Idefics3ForConditionalGeneration, config)


# --- InternVL ---------------------------------------------------------------------------------

INTERNVL_TILE = 32  # 2 x 2 patches, pixel-shuffled by 0.5: 1 token a tile
INTERNVL_TOKENS = Tokens(eos="<|im_end|>", pad="<|endoftext|>",
                         special=(*CHATML, "<img>", "</img>", "<IMG_CONTEXT>", "<video>"),
                         named={"start_image_token": "<img>", "end_image_token": "</img>",
                                "context_image_token": "<IMG_CONTEXT>",
                                "video_token": "<video>"})


def _internvl_image_processor() -> Any:
    from transformers.models.got_ocr2 import GotOcr2ImageProcessorPil

    return GotOcr2ImageProcessorPil(size={"height": INTERNVL_TILE, "width": INTERNVL_TILE},
                                    crop_to_patches=True, min_patches=1, max_patches=4)


def _internvl_processor(image_processor: Any, tokenizer: Any, chat_template: str) -> Any:
    from transformers import InternVLProcessor

    return image_only(InternVLProcessor)(image_processor, tokenizer, chat_template,
                                         image_seq_length=1)


def _internvl(tokenizer: Any) -> Any:
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 2, "image_size": [INTERNVL_TILE, INTERNVL_TILE],
              "patch_size": [16, 16]}
    config = InternVLConfig(text_config={**_text(tokenizer), "model_type": "qwen2"},
                            vision_config=vision, downsample_ratio=0.5, image_seq_length=1,
                            vision_feature_layer=-1, tie_word_embeddings=True,
                            **_ids(tokenizer, image_token_id="<IMG_CONTEXT>"))
    return _instantiate(InternVLForConditionalGeneration, config)


FAMILIES = {family.name: family for family in (
    Family("qwen3_vl", QWEN_TOKENS, _qwen_image_processor(16), _qwen3_vl_processor, _qwen3_vl),
    Family("qwen3_vl_moe", QWEN_TOKENS, _qwen_image_processor(16), _qwen3_vl_processor,
           _qwen3_vl_moe),
    Family("qwen2_5_vl", QWEN_TOKENS, _qwen_image_processor(14), _qwen2_5_vl_processor,
           _qwen2_5_vl),
    Family("gemma3", GEMMA3_TOKENS, _gemma3_image_processor, _gemma3_processor, _gemma3),
    Family("llava_onevision", LLAVA_TOKENS, _llava_image_processor, _llava_processor,
           _llava_onevision),
    Family("idefics3", IDEFICS3_TOKENS, _idefics3_image_processor, _idefics3_processor,
           _idefics3),
    Family("internvl", INTERNVL_TOKENS, _internvl_image_processor, _internvl_processor,
           _internvl),
)}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError(f"tiny-random: unknown family {name!r}; "
                          f"choose from {', '.join(FAMILIES)}")
    return FAMILIES[name]


def build_tiny(name: str, seed: int) -> tuple[Any, Any]:
    """A family's processor and a model with weights drawn from `seed`."""
    import torch

    chosen = family(name)
    processor = chosen.build_processor()
    torch.manual_seed(seed)
    model = chosen.model(processor.tokenizer)
    model.generation_config.eos_token_id = processor.tokenizer.eos_token_id
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    return processor, model


def tiny_random_path(seed: int = 0, name: str = "qwen3_vl") -> Path:
    """The folder of the tiny model of family `name` for `seed`, built on first use."""
    family(name)
    folder = cache_dir() / "models" / f"tiny-random-{name}-v{FACTORY_VERSION}-seed{seed}"
    if (folder / MARKER).exists():
        return folder
    if int(os.environ.get("RANK", "0")) != 0:
        # a distributed run: transformers saves weights on rank 0 only, so rank 0 builds it
        # and the other ranks wait for it
        deadline = time.monotonic() + RANK_WAIT_SECONDS
        while not (folder / MARKER).exists():
            if time.monotonic() > deadline:
                raise ConfigError(f"{folder}: rank 0 did not build the tiny model within "
                                  f"{RANK_WAIT_SECONDS} s")
            time.sleep(0.5)
        return folder
    with AtomicFolder(folder) as tmp:  # a folder already in place is never replaced
        save_tiny_random(tmp, seed, name=name)
    return folder


def save_tiny_random(folder: Path, seed: int = 0, servable: bool = False,
                     name: str = "qwen3_vl") -> Path:
    """Write the tiny model and its processor. `servable` (Qwen3-VL only) writes the standard
    processor, with a video processor, that servers such as vLLM load with AutoProcessor."""
    if servable and name != "qwen3_vl":
        raise ConfigError(f"tiny-random: a servable processor is built for qwen3_vl only, "
                          f"not {name}")
    processor, model = build_tiny(name, seed)
    model.save_pretrained(folder)
    if servable:
        servable_processor(processor).save_pretrained(folder)
    else:
        processor.save_pretrained(folder)
        write_auto_processor(folder, processor)
    (folder / MARKER).write_text(json.dumps({"factory_version": FACTORY_VERSION, "seed": seed,
                                             "family": name}))
    return folder


def load_tiny_processor(folder: Path) -> Any:
    """The offline processor of a folder written by `save_tiny_random`."""
    from transformers import AutoTokenizer

    marker = json.loads((folder / MARKER).read_text())
    chosen = family(marker.get("family", "qwen3_vl"))
    image_processor = type(chosen.image_processor()).from_pretrained(str(folder))
    return chosen.build_processor(AutoTokenizer.from_pretrained(str(folder)), image_processor)
