"""Task definitions (YAML), prompt templates, and the plain metric functions they name."""

from pathlib import Path

TASKS_DIR = Path(__file__).parent
PROMPTS_DIR = TASKS_DIR / "prompts"
