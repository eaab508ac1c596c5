"""The construction pipeline's model-free parts: concept folders, the offline compositor,
generator prompts, validation of generated dialogues and questions, and sample assembly.

The stages that call models live in `covip_eval.construction.pipeline`, which feeds these functions.
"""
