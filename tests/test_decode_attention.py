"""Grouped-query decoding without KV copies: SDPA's numbers, on tensors and in a real model."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from benchmark import load_benchmark  # noqa: E402
from covip_eval import decode_attention  # noqa: E402
from covip_eval.decode_attention import grouped_decode_attention  # noqa: E402
from covip_eval.models.tiny_random import TinyRandomModel  # noqa: E402
from covip_eval.registry import TaskIndex  # noqa: E402
from covip_eval.request_builder import caption_request  # noqa: E402
from covip_eval.requests import GenParams  # noqa: E402


class _Attention(torch.nn.Module):
    num_key_value_groups = 4


def _repeated_kv_reference(query, key, value, mask, scaling):
    key, value = (t.repeat_interleave(4, dim=1) for t in (key, value))
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask,
                                                           scale=scaling)
    return out.transpose(1, 2)


@pytest.mark.parametrize("mask_kind", ["none", "bool", "float"])
def test_one_token_step_equals_sdpa_over_repeated_heads(mask_kind: str) -> None:
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(3, 8, 1, 16, generator=generator)
    key, value = (torch.randn(3, 2, 40, 16, generator=generator) for _ in range(2))
    keep = torch.rand(3, 1, 1, 40, generator=generator) > 0.3
    mask = {"none": None, "bool": keep,
            "float": torch.zeros(keep.shape).masked_fill(~keep, float("-inf"))}[mask_kind]
    out, weights = grouped_decode_attention(_Attention(), query, key, value, mask, scaling=0.25)
    assert weights is None and out.shape == (3, 1, 8, 16)
    torch.testing.assert_close(out, _repeated_kv_reference(query, key, value, mask, 0.25))


def test_prefill_goes_to_transformers_sdpa() -> None:
    query = torch.randn(1, 8, 5, 16)
    key, value = torch.randn(1, 2, 5, 16), torch.randn(1, 2, 5, 16)
    out, _ = grouped_decode_attention(_Attention(), query, key, value, None, scaling=0.25,
                                      is_causal=True)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()
    torch.testing.assert_close(out, _repeated_kv_reference(query, key, value, causal, 0.25))


def test_tiny_model_decodes_the_same_tokens_through_it(small_dataset: Path,
                                                       monkeypatch) -> None:
    adapter = TinyRandomModel(batch_size=4, cache_implementation="static")
    prompts = TaskIndex().tasks["capeval_qa"].prompt_templates()
    samples = load_benchmark(str(small_dataset), "capeval_qa").samples[:3]
    requests = [caption_request(s, prompts, GenParams(max_new_tokens=8)) for s in samples]
    before = [g.text for g in adapter.generate(requests)]
    steps = []

    def counted(module, query, *args, **kwargs):
        steps.append(query.shape[2])
        return grouped_decode_attention(module, query, *args, **kwargs)

    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    monkeypatch.setattr(decode_attention, "grouped_decode_attention", counted)
    for interface in (AttentionInterface, AttentionMaskInterface):  # unregistered afterwards
        monkeypatch.setitem(interface._global_mapping, decode_attention.ATTENTION_NAME, None)
    assert decode_attention.use_grouped_decode_attention(adapter.model)
    assert [g.text for g in adapter.generate(requests)] == before
    layers = adapter.model.config.get_text_config().num_hidden_layers
    assert steps.count(1) == 7 * layers  # every decode step after the first token, every layer
    assert not decode_attention.use_grouped_decode_attention(adapter.model)  # already switched
