"""`hf`: any image-text-to-text model through transformers, batched with left padding.

    --model hf --model_args pretrained=Qwen/Qwen3-VL-8B-Instruct,dtype=bfloat16,max_pixels=...

The processor's chat template places each image exactly where the request has it. Greedy
requests decode greedily; sampled ones apply temperature, top_p, top_k and min_p through
transformers' own warpers, each request drawing from a generator of its own
(`covip_eval/models/seeded_sampling.py`), so that its output does not depend on the batch it runs in
(presence_penalty has no transformers equivalent and is reported as ignored).

On a GPU, decoding uses a static KV cache by default, whose step transformers compiles once
per shape. The cache is sized to a few length buckets (two per doubling) that hold the prompt
and its new tokens, so that the shapes, and the compilations, stay few and are reused; the
prompt itself is not padded, so prefill computes no padding (an older transformers, which
sizes the cache to each call, gets the prompt padded to a bucket instead). Batches hold
requests of similar lengths (the runner sorts them). Qwen3-VL models also get attention paths
with fewer launches and fewer bytes moved on a GPU (`covip_eval/models/qwen3vl_attention.py`). On a
CPU the dynamic cache and transformers' attention stay the defaults.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from covip_eval.errors import ConfigError, MissingDependencyError
from covip_eval.models.base import Capabilities, ModelAdapter
from covip_eval.models.open_weights import load_checked, weights_fingerprint
from covip_eval.models.qwen3vl_attention import (
    use_grouped_decode_attention,
    use_grouped_vision_attention,
)
from covip_eval.models.seeded_sampling import PerRequestSampler, request_seed
from covip_eval.requests import ChatRequest, Generation, GenParams, chat_dicts

AUTO_BATCH_SIZE = 64
CPU_MAX_BATCH_TOKENS = 32768
SMALLEST_BUCKET = 256
_NOT_IN_IDENTITY = {"batch_size", "max_batch_tokens", "device_map", "attn_implementation",
                    "cache_implementation", "compile_fullgraph", "grouped_attention",
                    "trust_remote_code"}


class HFOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pretrained: str = Field(..., description="hub id or local folder")
    revision: str | None = None
    dtype: str = Field("auto", description="auto, bfloat16, float16 or float32")
    device_map: str | None = Field(None, description="default: auto with a GPU, else cpu")
    max_pixels: int | None = Field(None, gt=0, description="pixel cap per image (processors "
                                   "that count pixels: Qwen-VL)")
    min_pixels: int | None = Field(None, gt=0)
    longest_edge: int | None = Field(None, gt=0, description="longest image edge in pixels "
                                     "(processors that limit edges: Idefics3, SmolVLM)")
    max_images: int | None = Field(None, gt=0, description="refuse requests with more images")
    batch_size: int | Literal["auto"] = Field(
        8, description="requests per batch; auto: start at 64 (a batch that runs out of "
                       "memory is halved either way)")
    max_batch_tokens: int | None = Field(
        None, gt=0, description="split a batch whose padded prompts hold more tokens than "
                                "this (default: 32768 on a CPU, whose memory a batch of long "
                                "prompts fills; none on a GPU, where a batch that runs out of "
                                "memory is halved)")
    trust_remote_code: bool = False
    attn_implementation: str | None = None
    cache_implementation: str | None = Field(
        None, description="static or dynamic (default: static on a GPU, dynamic on a CPU)")
    compile_fullgraph: bool = Field(False, description="with a static cache, compile the whole "
                                                       "step into one graph")
    grouped_attention: bool | None = Field(
        None, description="Qwen3-VL: vision attention one call per image size, decode attention "
                          "on the key/value heads at batch > 1 (default: on a GPU)")


def require_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        missing = exc.name or "torch"
        raise MissingDependencyError("the transformers adapter", missing, "hf") from None
    return torch


def to_hf_messages(request: ChatRequest) -> tuple[list[dict[str, Any]], list[Any]]:
    """Chat-template messages with image placeholders in place, and the images in order."""
    messages = chat_dicts(request, lambda _: {"type": "image"})
    return messages, [image.to_pil() for image in request.images]


def load_processor(path: str, revision: str | None = None, trust_remote_code: bool = False
                   ) -> Any:
    """A model's processor, left-padding; a `tiny-random` folder gets its offline processor."""
    from covip_eval.models.tiny_families import MARKER, load_tiny_processor

    if (Path(path) / MARKER).exists():
        processor = load_tiny_processor(Path(path))
    else:
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(path, revision=revision,
                                                  trust_remote_code=trust_remote_code)
    processor.tokenizer.padding_side = "left"
    return processor


def processor_inputs(processor: Any, requests: list[ChatRequest]) -> Any:
    """The processor's batched, left-padded inputs. Images go as one list per prompt: Gemma 3's
    processor refuses a flat list when prompts hold different numbers of images, and
    LLaVA-OneVision's takes a flat list for single-image prompts, which it tiles at a higher
    resolution than the images of a multi-image prompt; the others take either."""
    texts, images = [], []
    for request in requests:
        messages, request_images = to_hf_messages(request)
        texts.append(processor.apply_chat_template(messages, tokenize=False,
                                                   add_generation_prompt=True))
        images.append(request_images)
    return processor(text=texts, images=images if any(images) else None, padding=True,
                     return_tensors="pt")


def _image_processor_kind(image_processor: Any) -> str:
    """How a processor limits image size: 'pixels' (a pixel count: the Qwen-VL family),
    'edges' (an edge length: Idefics3, SmolVLM) or 'fixed' (its own tiles or a fixed size)."""
    names = [cls.__name__ for cls in type(image_processor).__mro__]
    if any(name.startswith("Qwen2VLImageProcessor") for name in names):
        return "pixels"
    if any(name.startswith(("Idefics3ImageProcessor", "SmolVLMImageProcessor"))
           for name in names):
        return "edges"
    return "fixed"


def limit_image_size(image_processor: Any, options: HFOptions) -> None:
    """Apply the options' image-size limits in the processor's own terms; a limit the processor
    cannot express is refused, never silently ignored."""
    kind = _image_processor_kind(image_processor)
    asked = {name: getattr(options, name) for name in ("max_pixels", "min_pixels", "longest_edge")
             if getattr(options, name) is not None}
    takes = {"pixels": {"max_pixels", "min_pixels"}, "edges": {"longest_edge"}}.get(kind, set())
    refused = sorted(set(asked) - takes)
    if refused:
        hint = {"pixels": "it counts pixels: use max_pixels/min_pixels",
                "edges": "it limits the longest edge: use longest_edge",
                "fixed": "it resizes to its own fixed size or tiles"}[kind]
        raise ConfigError(f"{type(image_processor).__name__} cannot take "
                          f"{', '.join(refused)} ({hint})")
    size = dict(getattr(image_processor, "size", None) or {})
    if kind == "pixels":  # Qwen-VL stores its pixel bounds under these edge-named keys
        size.update({key: asked[name] for key, name in (("longest_edge", "max_pixels"),
                                                       ("shortest_edge", "min_pixels"))
                     if name in asked})
    elif "longest_edge" in asked:
        size["longest_edge"] = asked["longest_edge"]
    if asked:
        image_processor.size = size


def bucket_length(n: int) -> int:
    """The smallest length of the form 256 * 2^k or 384 * 2^k that holds n tokens."""
    size = SMALLEST_BUCKET
    while True:
        if n <= size:
            return size
        if n <= size * 3 // 2:
            return size * 3 // 2
        size *= 2


@lru_cache(maxsize=1)
def sizes_static_cache() -> bool:
    """Whether this transformers takes `max_cache_len` for a static cache (recent 5.x); older
    ones size it to each call."""
    from transformers import GenerationConfig

    return hasattr(GenerationConfig(), "max_cache_len")


def left_pad(inputs: Any, length: int, pad_id: int) -> Any:
    """Processor outputs left-padded to `length` tokens: pads are masked out, so the model's
    outputs are unchanged."""
    import torch.nn.functional as F

    extra = length - inputs["input_ids"].shape[1]
    if extra > 0:
        for key in ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids"):
            if key in inputs:
                value = pad_id if key == "input_ids" else 0
                inputs[key] = F.pad(inputs[key], (extra, 0), value=value)
    return inputs


def generate_kwargs(requests: list[ChatRequest], params: GenParams) -> dict[str, Any]:
    """Greedy decoding, or each request sampled from its own seeded generator (so that its
    output does not depend on the batch it is in); greedy underneath either way."""
    kwargs: dict[str, Any] = {"max_new_tokens": params.max_new_tokens, "do_sample": False,
                              "temperature": None, "top_p": None, "top_k": None}
    if not params.greedy:
        from transformers import LogitsProcessorList

        sampler = PerRequestSampler(params, [request_seed(r) for r in requests])
        kwargs["logits_processor"] = LogitsProcessorList([sampler])
    return kwargs


HFOptionsT = TypeVar("HFOptionsT", bound=HFOptions)


class HFModel(ModelAdapter[HFOptionsT]):
    name = "hf"
    capabilities = Capabilities(
        sampling_options=frozenset({"temperature", "top_p", "top_k", "min_p", "seed"}))
    Options: ClassVar[type[BaseModel]] = HFOptions  # the adapter itself; subclasses name theirs
    identity_excludes = _NOT_IN_IDENTITY

    def __init__(self, processor: Any = None, model: Any = None, **model_args: Any):
        """Loads `pretrained`, unless an already loaded processor and model are given (the
        trainer and the benchmarks pass their own)."""
        super().__init__(**model_args)
        self.torch = require_torch()
        self.batch_size = AUTO_BATCH_SIZE if self.options.batch_size == "auto" \
            else self.options.batch_size
        if self.options.max_images is not None:
            self.capabilities = Capabilities(max_images=self.options.max_images,
                                             sampling_options=self.capabilities.sampling_options)
        self.weights: str | None = None  # a loaded-in model is identified by its label alone
        if processor is None or model is None:
            path = self._pretrained()
            processor, model = load_checked(
                path, self.options.revision,
                lambda: (self._load_processor(path), self._load_model(path)))
            commit = getattr(model.config, "_commit_hash", None)
            self.weights = weights_fingerprint(path, self.options.revision) or \
                (f"commit:{commit}" if commit else None)
        self.processor, self.model = processor, model
        if self.grouped_attention:
            use_grouped_vision_attention(model)
            use_grouped_decode_attention(model)
        self.oom_splits = 0  # batches halved after running out of memory
        self.token_splits = 0  # batches halved for holding more than max_batch_tokens
        on_cpu = str(getattr(model, "device", "cpu")) == "cpu"
        self.max_batch_tokens = self.options.max_batch_tokens or (
            CPU_MAX_BATCH_TOKENS if on_cpu else None)

    @property
    def identity(self) -> dict[str, Any]:
        """The options, and the fingerprint of the weights: retrained weights in the same
        folder, or a moved branch, are another model to the cache."""
        return {**super().identity, "weights": self.weights}

    def _pretrained(self) -> str:
        return self.options.pretrained

    @property
    def cache_implementation(self) -> str | None:
        """The KV cache `generate` gets: the option, else static on a GPU (None: dynamic)."""
        chosen = self.options.cache_implementation
        if chosen is None:
            return "static" if self.model.device.type == "cuda" else None
        return None if chosen == "dynamic" else chosen

    @property
    def grouped_attention(self) -> bool:
        """Whether Qwen3-VL's grouped attention paths are on: the option, else on a GPU."""
        chosen = self.options.grouped_attention
        return self.model.device.type == "cuda" if chosen is None else chosen

    def _load_processor(self, path: str) -> Any:
        processor = load_processor(path, self.options.revision, self.options.trust_remote_code)
        limit_image_size(processor.image_processor, self.options)
        return processor

    def _load_model(self, path: str) -> Any:
        from transformers import AutoModelForImageTextToText

        torch = self.torch
        device_map = self.options.device_map or ("auto" if torch.cuda.is_available() else None)
        kwargs: dict[str, Any] = {"dtype": self.options.dtype, "revision": self.options.revision,
                                  "trust_remote_code": self.options.trust_remote_code}
        if device_map is not None:  # a device map needs accelerate; on CPU none is needed
            kwargs["device_map"] = device_map
        if self.options.attn_implementation:
            kwargs["attn_implementation"] = self.options.attn_implementation
        return AutoModelForImageTextToText.from_pretrained(path, **kwargs).eval()

    def prepare(self, requests: list[ChatRequest]) -> Any:
        """The processor's batched, left-padded inputs for requests (the exact model input)."""
        return processor_inputs(self.processor, requests)

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        groups: dict[GenParams, list[int]] = defaultdict(list)
        for i, request in enumerate(requests):
            groups[request.params].append(i)
        out: dict[int, Generation] = {}
        for params, indices in groups.items():
            batch = self._generate_batch([requests[i] for i in indices], params)
            out.update(zip(indices, batch))
        return [out[i] for i in range(len(requests))]

    def _generate_batch(self, requests: list[ChatRequest], params: GenParams) -> list[Generation]:
        """A batch above `max_batch_tokens` is halved before it runs; one that runs out of GPU
        memory is halved and tried again (as lm-eval's `batch_size=auto` does); a single
        request that does not fit fails alone."""
        inputs = self.prepare(requests)
        budget = self.max_batch_tokens
        if budget is not None and len(requests) > 1 and inputs["input_ids"].numel() > budget:
            self.token_splits += 1
            half = len(requests) // 2
            return (self._generate_batch(requests[:half], params)
                    + self._generate_batch(requests[half:], params))
        try:
            return self._generate_fitting(requests, inputs, params)
        except self.torch.OutOfMemoryError:
            if self.torch.cuda.is_available():
                self.torch.cuda.empty_cache()
            if len(requests) == 1:
                return [Generation.failed("out of memory for a single request (lower "
                                          "max_pixels or use a larger GPU)")]
            self.oom_splits += 1
            half = len(requests) // 2
            return (self._generate_batch(requests[:half], params)
                    + self._generate_batch(requests[half:], params))

    def _generate_fitting(self, requests: list[ChatRequest], inputs: Any, params: GenParams
                          ) -> list[Generation]:
        torch = self.torch
        kwargs = generate_kwargs(requests, params)
        cache = self.cache_implementation
        if cache == "static":
            prompt_length = inputs["input_ids"].shape[1]
            if sizes_static_cache():
                kwargs["max_cache_len"] = bucket_length(prompt_length + params.max_new_tokens)
            else:  # a cache sized to each call: the prompt padded to a bucket bounds the shapes
                inputs = left_pad(inputs, bucket_length(prompt_length),
                                  self.processor.tokenizer.pad_token_id)
        inputs = inputs.to(self.model.device)
        if cache is not None:
            kwargs["cache_implementation"] = cache
            if self.options.compile_fullgraph:
                from transformers import CompileConfig

                kwargs["compile_config"] = CompileConfig(fullgraph=True)
        with torch.inference_mode():
            output = self.model.generate(**inputs, **kwargs)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        prompt_lengths = inputs["attention_mask"].sum(dim=1).tolist()
        pad = self.processor.tokenizer.pad_token_id
        produced = (new_tokens != pad).sum(dim=1).tolist() if pad is not None else \
            [new_tokens.shape[1]] * len(requests)
        # a reply that used every new token without ending its turn was cut
        return [Generation(text=t, input_tokens=int(n_in), output_tokens=int(n_out),
                           cut=int(n_out) >= params.max_new_tokens)
                for t, n_in, n_out in zip(texts, prompt_lengths, produced)]

    def close(self) -> None:
        del self.model
        if self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()
