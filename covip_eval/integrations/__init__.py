"""Where results and tasks meet other tools: lm-eval (an exported task folder and the bridge
it calls) and the loggers (Weights & Biases, the Hugging Face Hub)."""
