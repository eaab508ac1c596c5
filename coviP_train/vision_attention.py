"""Qwen3-VL's vision attention, one call per image size instead of one per image.

transformers runs the vision tower's attention image by image unless a flash-attention
kernel is installed: a batch of covip prompts holds hundreds of images, and the loop of small
attention calls (forward and backward) holds a small model's training step to the CPU's pace
of launching kernels. Images of one size (every context image of builtin:mini is one size)
are stacked and attended in one call, each image still attending only to itself, so the
result is the per-image loop's. Registered through transformers' attention interface under a
name with "flash" in it, which is what sends the vision tower down its packed-sequence path
(`cu_seq_lens_q` marks where each image starts); the text model keeps its own attention.
"""

from __future__ import annotations

from typing import Any

ATTENTION_NAME = "covip_flash_grouped_by_size"
MODEL_TYPES = ("qwen3_vl", "qwen3_vl_moe")


def grouped_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any = None,
                      scaling: float | None = None, dropout: float = 0.0,
                      cu_seq_lens_q: Any = None, **_: Any) -> tuple[Any, None]:
    """query, key, value: (1, heads, tokens, head_dim), images packed one after another;
    returns (1, tokens, heads, head_dim), as transformers' flash-attention functions do."""
    import torch
    import torch.nn.functional as F

    if attention_mask is not None or cu_seq_lens_q is None:
        raise ValueError(f"{ATTENTION_NAME} is for the vision tower's packed, unmasked images")
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
    """Switch a Qwen3-VL model's vision tower to `grouped_attention`; other models are left
    as they are (False)."""
    from transformers import AttentionInterface

    config = model.config
    if getattr(config, "model_type", None) not in MODEL_TYPES:
        return False
    AttentionInterface.register(ATTENTION_NAME, grouped_attention)
    config.vision_config._attn_implementation = ATTENTION_NAME
    return True
