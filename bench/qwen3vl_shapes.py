"""Published dimensions of Qwen3-VL models, for random-weight benchmarks of realistic shape."""

from __future__ import annotations

_ROPE = {"rope_type": "default", "rope_theta": 5000000.0, "mrope_section": [24, 20, 20],
         "mrope_interleaved": True}

TEXT_8B = {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 12288,
           "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8,
           "head_dim": 128, "max_position_embeddings": 262144, "rope_parameters": _ROPE}
VISION_8B = {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16,
             "out_hidden_size": 4096, "patch_size": 16, "spatial_merge_size": 2,
             "temporal_patch_size": 2, "deepstack_visual_indexes": [8, 16, 24],
             "num_position_embeddings": 2304}

TEXT_2B = {"vocab_size": 151936, "hidden_size": 2048, "intermediate_size": 6144,
           "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8,
           "head_dim": 128, "max_position_embeddings": 262144, "rope_parameters": _ROPE}
VISION_2B = {"depth": 24, "hidden_size": 1024, "intermediate_size": 4096, "num_heads": 16,
             "out_hidden_size": 2048, "patch_size": 16, "spatial_merge_size": 2,
             "temporal_patch_size": 2, "deepstack_visual_indexes": [5, 11, 17],
             "num_position_embeddings": 2304}
