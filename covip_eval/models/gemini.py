"""Google Gemini through google-genai: inline image parts in place, system instruction apart.

    --model gemini --model_args model=gemini-2.0-flash     (key: GEMINI_API_KEY)
"""

from __future__ import annotations

from typing import Any

from covip_eval.models.api_base import APIModel, APIOptions, NotAnAnswer, import_sdk
from covip_eval.models.base import Capabilities
from covip_eval.requests import ChatRequest, Generation, ImagePart


class GeminiModel(APIModel[APIOptions]):
    name = "gemini"
    default_key_env = "GEMINI_API_KEY"
    capabilities = Capabilities(
        max_images=3000,
        sampling_options=frozenset({"temperature", "top_p", "top_k", "presence_penalty",
                                    "seed"}))

    def _client(self) -> Any:
        genai = import_sdk("google.genai", "google-genai", "the gemini adapter")
        types = import_sdk("google.genai.types", "google-genai", "the gemini adapter")
        http = types.HttpOptions(base_url=self.options.base_url,
                                 timeout=int(self.options.timeout * 1000))
        return genai.Client(api_key=self.api_key, http_options=http)

    async def _close(self, client: Any) -> None:
        await client.aio.aclose()

    def _contents(self, request: ChatRequest, types: Any) -> list[Any]:
        contents = []
        for message in request.messages:
            if message.role == "system":
                continue
            parts = [
                types.Part(inline_data=_blob(types, p.image)) if isinstance(p, ImagePart)
                else types.Part(text=p.text) for p in message.parts
            ]
            role = "model" if message.role == "assistant" else "user"
            contents.append(types.Content(role=role, parts=parts))
        return contents

    async def _complete(self, client: Any, request: ChatRequest) -> Generation:
        types = import_sdk("google.genai.types", "google-genai", "the gemini adapter")
        params = request.params
        system = "\n\n".join(m.text for m in request.messages if m.role == "system") or None
        config: dict[str, Any] = {"system_instruction": system,
                                  "max_output_tokens": params.max_new_tokens,
                                  "temperature": params.temperature,
                                  "presence_penalty": params.presence_penalty}
        if not params.greedy:
            config.update(top_p=params.top_p, top_k=params.top_k, seed=params.seed)
        response = await client.aio.models.generate_content(
            model=self.options.model, contents=self._contents(request, types),
            config=types.GenerateContentConfig(**{k: v for k, v in config.items()
                                                  if v is not None}))
        text = _answer_text(response)
        usage = getattr(response, "usage_metadata", None)
        # thinking tokens are billed as output: counted in usage and cost
        output = (getattr(usage, "candidates_token_count", 0) or 0) + \
            (getattr(usage, "thoughts_token_count", 0) or 0)
        candidate = response.candidates[0]
        finish = str(getattr(candidate, "finish_reason", None) or "").rsplit(".", 1)[-1]
        return Generation(text=text,
                          input_tokens=getattr(usage, "prompt_token_count", 0) or 0,
                          output_tokens=output, cut=finish == "MAX_TOKENS")


def _blob(types: Any, image: Any) -> Any:
    data, mime = image.for_api()
    return types.Blob(mime_type=mime, data=data)


def _answer_text(response: Any) -> str:
    """The first candidate's text, or NotAnAnswer: blocked prompts, safety stops and empty
    or length-cut replies are failures, never text."""
    feedback = getattr(response, "prompt_feedback", None)
    blocked = getattr(feedback, "block_reason", None)
    if blocked:
        raise NotAnAnswer(f"refused: prompt blocked ({blocked})")
    candidates = getattr(response, "candidates", None)
    if not candidates:
        raise NotAnAnswer("malformed reply: no candidates", retry=True)
    candidate = candidates[0]
    content = getattr(candidate, "content", None)
    text = "".join(p.text or "" for p in (getattr(content, "parts", None) or []))
    if text.strip():
        return text
    finish = str(getattr(candidate, "finish_reason", None) or "").rsplit(".", 1)[-1]
    if finish in ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION"):
        raise NotAnAnswer(f"refused (finish_reason={finish})")
    raise NotAnAnswer(f"empty reply (finish_reason={finish or None})", retry=True)
