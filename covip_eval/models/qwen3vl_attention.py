"""Two attention paths for Qwen3-VL, each the same arithmetic as transformers' own with far
fewer kernel launches or bytes moved: the trainer switches on the first, the transformers
adapter both (on a GPU).

The vision tower: one attention call per image size instead of one per image. transformers
runs the vision tower's attention image by image unless a flash-attention kernel is
installed: a batch of covip prompts holds hundreds of images, and the loop of small
attention calls (forward and backward) holds a small model's training step to the CPU's pace
of launching kernels. Images of one size (every context image of builtin:mini is one size)
are stacked and attended in one call, each image still attending only to itself, so the
result is the per-image loop's. Registered through transformers' attention interface under a
name with "flash" in it, which is what sends the vision tower down its packed-sequence path
(`cu_seq_lens_q` marks where each image starts).

The text model's decode step (one new token a row, batches of more than one): attention on the
key/value heads, each head's group of query heads folded into rows, instead of transformers'
SDPA path, which under torch.compile repeats every key/value head to the query heads' count and
so copies the whole static cache each step: for an 8B model at batch 16 and 3,072 cached
tokens, about 60 GB of memory traffic a step, more than reading the weights (docs/benchmarks.md).
At batch 1 the copy is small, and transformers' path measured faster, so it keeps it; so does
every step that is not a decode step.
"""

from __future__ import annotations

from typing import Any

VISION_ATTENTION_NAME = "covip_flash_grouped_by_size"
DECODE_ATTENTION_NAME = "covip_sdpa_grouped_decode"
MODEL_TYPES = ("qwen3_vl", "qwen3_vl_moe")


def is_qwen3_vl(model: Any) -> bool:
    return getattr(model.config, "model_type", None) in MODEL_TYPES


def grouped_vision_attention(module: Any, query: Any, key: Any, value: Any,
                             attention_mask: Any = None, scaling: float | None = None,
                             dropout: float = 0.0, cu_seq_lens_q: Any = None, **_: Any
                             ) -> tuple[Any, None]:
    """query, key, value: (1, heads, tokens, head_dim), images packed one after another;
    returns (1, tokens, heads, head_dim), as transformers' flash-attention functions do."""
    import torch
    import torch.nn.functional as F

    if attention_mask is not None or cu_seq_lens_q is None:
        raise ValueError(f"{VISION_ATTENTION_NAME} is for the vision tower's packed, unmasked "
                         "images")
    q, k, v = (t[0].transpose(0, 1) for t in (query, key, value))  # (tokens, heads, dim)
    starts, lengths = cu_seq_lens_q[:-1], cu_seq_lens_q[1:] - cu_seq_lens_q[:-1]
    out = torch.empty_like(q)
    for length in lengths.unique().tolist():
        # token positions of every image of this size: (images, length)
        index = starts[lengths == length, None] + torch.arange(length, device=q.device)
        q_, k_, v_ = (t[index].transpose(1, 2) for t in (q, k, v))  # (images, heads, L, dim)
        attended = F.scaled_dot_product_attention(q_, k_, v_, scale=scaling,
                                                  dropout_p=dropout if module.training else 0.0)
        out[index] = attended.transpose(1, 2).to(out.dtype)
    return out.unsqueeze(0), None


def use_grouped_vision_attention(model: Any) -> bool:
    """Switch a Qwen3-VL model's vision tower to `grouped_vision_attention`; other models are left
    as they are (False)."""
    from transformers import AttentionInterface

    if not is_qwen3_vl(model):
        return False
    AttentionInterface.register(VISION_ATTENTION_NAME, grouped_vision_attention)
    model.config.vision_config._attn_implementation = VISION_ATTENTION_NAME
    return True


def grouped_decode_attention(module: Any, query: Any, key: Any, value: Any,
                             attention_mask: Any = None, scaling: float | None = None,
                             dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """query: (batch, heads, 1, head_dim) at a decode step; key, value: (batch, kv_heads,
    cached, head_dim); the mask (batch, 1, 1, cached) is every head's. Returns (batch, 1, heads,
    head_dim), as transformers' attention functions do. Anything else goes to SDPA."""
    import torch.nn.functional as F
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, length, dim = query.shape
    groups = getattr(module, "num_key_value_groups", 1)
    if length != 1 or batch == 1 or groups == 1 or \
            (attention_mask is not None and attention_mask.shape[1] != 1):
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      scaling=scaling, dropout=dropout, **kwargs)
    folded = query.reshape(batch, heads // groups, groups, dim)  # a group's heads as rows
    out = F.scaled_dot_product_attention(folded, key, value, attn_mask=attention_mask,
                                         scale=scaling)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2), None


def use_grouped_decode_attention(model: Any) -> bool:
    """Switch a Qwen3-VL model's text attention to `grouped_decode_attention` (its masks stay
    SDPA's); other models are left as they are (False)."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    if not is_qwen3_vl(model):
        return False
    AttentionInterface.register(DECODE_ATTENTION_NAME, grouped_decode_attention)
    AttentionMaskInterface.register(DECODE_ATTENTION_NAME, sdpa_mask)
    model.config.text_config._attn_implementation = DECODE_ATTENTION_NAME
    return True
