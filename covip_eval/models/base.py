"""The adapter interface every model (and every judge's model) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Generic, TypeVar, cast, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from benchmark.options import validation_message
from covip_eval.errors import ConfigError
from covip_eval.requests import ChatRequest, Generation

ALL_SAMPLING = frozenset({"temperature", "top_p", "top_k", "min_p", "presence_penalty", "seed"})


@dataclass(frozen=True)
class Capabilities:
    """What a model can take. Requests beyond these are refused, never silently trimmed."""

    max_images: int | None = None
    system_prompt: bool = True
    multi_turn: bool = True
    sampling_options: frozenset[str] = field(default=ALL_SAMPLING)
    reads_ground_truth: bool = False  # see requests.GroundTruth


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


OptionsT = TypeVar("OptionsT", bound=BaseModel)


class ModelAdapter(ABC, Generic[OptionsT]):
    """Generates text for chat requests with interleaved images.

    Local adapters batch `batch_size` requests per `generate` call; API adapters keep that
    many calls in flight and hand results back as they complete (`APIModel.stream`). Either
    way `generate` returns one `Generation` per request, in order, with a failure reason
    instead of text where a request failed.

    An adapter names the pydantic model of its `--model_args` as its type argument
    (`class Mine(ModelAdapter[MyOptions])`): that is its `Options`, and `self.options` is
    typed as one.
    """

    name: ClassVar[str]
    capabilities: Capabilities = Capabilities()  # an adapter's options may narrow its own
    Options: ClassVar[type[BaseModel]] = NoOptions
    options: OptionsT  # the parsed --model_args
    batch_size: int = 16
    # what results record of the adapter's work (`usage`): adapters that stream, retry,
    # split batches or spread calls over endpoints set their own
    streams: ClassVar[bool] = False  # generate hands results back as they complete
    retry_counts: Mapping[str, int] = MappingProxyType({})  # retries by kind of fault
    oom_splits: int = 0  # batches halved after running out of memory
    token_splits: int = 0  # batches halved for holding too many tokens

    @property
    def endpoint_usage(self) -> dict[str, dict[str, Any]] | None:
        """Each endpoint's calls, failures and share, where calls go to several."""
        return None

    def usage(self) -> dict[str, Any]:
        """The adapter's own account of its work, recorded beside the runner's counts."""
        endpoints = self.endpoint_usage
        return {"retries": dict(self.retry_counts), "oom_splits": self.oom_splits,
                "token_splits": self.token_splits,
                **({"endpoints": endpoints} if endpoints else {})}

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if "Options" not in cls.__dict__:
            for base in cls.__dict__.get("__orig_bases__", ()):
                found = [a for a in get_args(base)
                         if isinstance(a, type) and issubclass(a, BaseModel)]
                if found:
                    cls.Options = found[0]

    def __init__(self, **model_args: Any):
        try:
            # an instance of the type argument, which `__init_subclass__` made `Options`
            self.options = cast(OptionsT, self.Options(**model_args))
        except ValidationError as exc:
            raise ConfigError(validation_message(exc, f"--model_args for {self.name!r}")
                              ) from None

    @property
    def identity(self) -> dict[str, Any]:
        """What identifies this model's outputs (cache key and results); no secrets."""
        return {"adapter": self.name, **self.options.model_dump(exclude=self.identity_excludes)}

    identity_excludes: ClassVar[set[str]] = set()

    def refusal(self, request: ChatRequest) -> str | None:
        """Why this model cannot serve `request` as it is, or None."""
        caps = self.capabilities
        n_images = len(request.images)
        if caps.max_images is not None and n_images > caps.max_images:
            return (f"{self.name} accepts at most {caps.max_images} images per request; this "
                    f"request has {n_images} (no image is ever dropped)")
        roles = [m.role for m in request.messages]
        if "system" in roles and not caps.system_prompt:
            return f"{self.name} does not accept a system prompt"
        if roles.count("user") > 1 and not caps.multi_turn:
            return f"{self.name} does not accept multi-turn conversations"
        return None

    def ignored_options(self, request: ChatRequest) -> set[str]:
        """Sampling options set in the request that this model cannot honour."""
        asked = set(request.params.set_options()) - {"max_new_tokens"}
        if request.params.greedy:
            asked -= {"top_p", "top_k", "min_p", "seed"}
        return asked - self.capabilities.sampling_options

    @abstractmethod
    def generate(self, requests: list[ChatRequest]) -> list[Generation]:
        """One Generation per request, in order."""

    def close(self) -> None:
        """Release what the model holds (engines, sessions)."""
