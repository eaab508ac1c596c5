"""RL post-training (GRPO, DR-GRPO, GSPO) on TRL's GRPOTrainer, rewarded by the MCQA judge."""
