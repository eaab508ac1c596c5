"""`vllm`: vLLM's offline engine, for open models at scale.

    --model vllm --model_args pretrained=Qwen/Qwen3-VL-8B-Instruct,tensor_parallel_size=2

All requests of a run go to the engine at once; vLLM schedules them (continuous batching).
Parallelism is vLLM's own: `tensor_parallel_size` and `pipeline_parallel_size` inside one
engine, `distributed_executor_backend=ray` across nodes. For data parallelism, serve the model
with `vllm serve --data-parallel-size N` and use `--model openai-compatible`.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from covip_eval.errors import MissingDependencyError
from covip_eval.models.base import Capabilities, ModelAdapter
from covip_eval.models.open_weights import load_checked, weights_fingerprint
from covip_eval.models.openai_chat import to_openai_messages
from covip_eval.requests import ChatRequest, Generation, GenParams


class VLLMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pretrained: str = Field(..., description="hub id or local folder")
    revision: str | None = None
    dtype: str = "auto"
    tensor_parallel_size: int = Field(1, ge=1)
    pipeline_parallel_size: int = Field(1, ge=1)
    distributed_executor_backend: str | None = Field(None, description="mp or ray")
    max_model_len: int | None = Field(None, gt=0)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    kv_cache_memory_bytes: int | None = Field(None, gt=0, description="fixed KV cache size")
    limit_images: int = Field(32, ge=1, description="images per prompt (limit_mm_per_prompt)")
    max_pixels: int | None = Field(None, gt=0)
    min_pixels: int | None = Field(None, gt=0)
    enforce_eager: bool = False
    enable_chunked_prefill: bool | None = Field(None, description="default: vLLM's choice")
    seed: int = 0
    batch_size: int | None = Field(None, ge=1, description="requests handed to the engine at "
                                   "once (default: all of a run's, so that vLLM schedules "
                                   "them)")
    trust_remote_code: bool = False


class VLLMModel(ModelAdapter[VLLMOptions]):
    name = "vllm"
    capabilities = Capabilities()
    identity_excludes = {"tensor_parallel_size", "pipeline_parallel_size", "batch_size",
                         "distributed_executor_backend", "gpu_memory_utilization",
                         "kv_cache_memory_bytes", "enforce_eager", "enable_chunked_prefill",
                         "trust_remote_code"}

    def __init__(self, **model_args: Any):
        super().__init__(**model_args)
        try:
            import vllm
        except ImportError:
            raise MissingDependencyError("the vllm adapter", "vllm", "vllm") from None
        opts = self.options
        self.batch_size = opts.batch_size or sys.maxsize
        self.capabilities = Capabilities(max_images=opts.limit_images)
        self._vllm = vllm
        self.weights = weights_fingerprint(opts.pretrained, opts.revision)
        self.llm = load_checked(opts.pretrained, opts.revision,
                                lambda: vllm.LLM(**self.engine_arguments()))

    @property
    def identity(self) -> dict[str, Any]:
        """The options and the fingerprint of the weights (see open_weights.py)."""
        return {**super().identity, "weights": self.weights}

    def engine_arguments(self) -> dict[str, Any]:
        opts = self.options
        args: dict[str, Any] = {
            "model": opts.pretrained, "revision": opts.revision, "dtype": opts.dtype,
            "tensor_parallel_size": opts.tensor_parallel_size,
            "pipeline_parallel_size": opts.pipeline_parallel_size,
            "gpu_memory_utilization": opts.gpu_memory_utilization,
            "limit_mm_per_prompt": {"image": opts.limit_images},
            "enforce_eager": opts.enforce_eager, "seed": opts.seed,
            "trust_remote_code": opts.trust_remote_code,
        }
        optional = {"max_model_len": opts.max_model_len,
                    "kv_cache_memory_bytes": opts.kv_cache_memory_bytes,
                    "distributed_executor_backend": opts.distributed_executor_backend,
                    "enable_chunked_prefill": opts.enable_chunked_prefill}
        args.update({k: v for k, v in optional.items() if v is not None})
        pixels = {k: v for k, v in (("max_pixels", opts.max_pixels),
                                    ("min_pixels", opts.min_pixels)) if v is not None}
        if pixels:
            args["mm_processor_kwargs"] = pixels
        return args

    def sampling_params(self, params: GenParams) -> Any:
        kwargs: dict[str, Any] = {"max_tokens": params.max_new_tokens,
                                  "temperature": params.temperature}
        if not params.greedy:
            for name in ("top_p", "top_k", "min_p", "seed"):
                value = getattr(params, name)
                if value is not None:
                    kwargs[name] = value
        if params.presence_penalty is not None:
            kwargs["presence_penalty"] = params.presence_penalty
        return self._vllm.SamplingParams(**kwargs)

    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        conversations = [to_openai_messages(r) for r in requests]
        sampling = [self.sampling_params(r.params) for r in requests]
        outputs = self.llm.chat(conversations, sampling, use_tqdm=False)
        generations = []
        for output in outputs:
            completion = output.outputs[0]
            generations.append(Generation(text=completion.text,
                                          input_tokens=len(output.prompt_token_ids or []),
                                          output_tokens=len(completion.token_ids),
                                          cut=completion.finish_reason == "length"))
        return generations

    def close(self) -> None:
        del self.llm
