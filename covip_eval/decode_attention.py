"""Decode-step attention for grouped-query models without copying the KV cache.

In a grouped-query model each key/value head serves several query heads. transformers' SDPA
path handles a one-token decode step by folding a group's query heads into rows of one
attention call, except while torch.compile traces the step, as it does with a static cache:
there it repeats every key and value head to the query heads' count first. On an 8B model
with an 8k-token static cache that copy writes and reads about 10 GB a step, a quarter of
batch-1 decode time on an H200. This function folds the query heads under compile too and
leaves every other call (prefill, masks per head, models without groups) to transformers'
SDPA function, so outputs are SDPA's. Registered through transformers' attention interface
for the text model only; its masks are SDPA's.
"""

from __future__ import annotations

from typing import Any

ATTENTION_NAME = "covip_sdpa_grouped_decode"


def grouped_decode_attention(module: Any, query: Any, key: Any, value: Any,
                             attention_mask: Any, scaling: float | None = None,
                             **kwargs: Any) -> tuple[Any, None]:
    """query (batch, heads, q_len, dim), key and value (batch, kv_heads, kv_len, dim);
    returns (batch, q_len, heads, dim), as transformers' attention functions do."""
    import torch.nn.functional as F
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    shared_mask = attention_mask is None or attention_mask.shape[1] == 1
    if query.shape[2] != 1 or groups == 1 or not shared_mask \
            or kwargs.get("position_bias") is not None:
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      scaling=scaling, **kwargs)
    batch, heads, _, dim = query.shape
    # query head h reads key/value head h // groups: a group's heads become its query rows
    rows = query.reshape(batch, heads // groups, groups, dim)
    out = F.scaled_dot_product_attention(rows, key, value, attn_mask=attention_mask,
                                         scale=scaling)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def use_grouped_decode_attention(model: Any) -> bool:
    """Switch a model's text attention from SDPA to `grouped_decode_attention`; a model on
    another attention implementation is left as it is (False)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    text = model.config.get_text_config()
    if getattr(text, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(ATTENTION_NAME, grouped_decode_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
    text._attn_implementation = ATTENTION_NAME
    return True
