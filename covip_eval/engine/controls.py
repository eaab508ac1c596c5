"""Visual-reliance controls: the same evaluation with each query image blanked (flat grey,
same size) or swapped with another sample's. The ground truth stays the original's, so a
model that looks at the photo loses accuracy under both, and a model that does not look
loses nothing: the drop is what looking is worth."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import replace

from benchmark import ImageData, Sample
from covip_eval.engine.evaluator import TaskStep
from covip_eval.errors import ConfigError

GREY = (128, 128, 128)


def _png(image) -> ImageData:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return ImageData(buf.getvalue())


def blank_query(sample: Sample, following: Sample) -> Sample:
    from PIL import Image

    size = sample.query_image.to_pil().size
    return replace(sample, query_image=_png(Image.new("RGB", size, GREY)))


def swapped_query(sample: Sample, following: Sample) -> Sample:
    """The sample showing the following sample's query image (the last shows the first's)."""
    return replace(sample, query_image=following.query_image)


# each control changes a sample, given the sample that follows it in the task
CONTROLS: dict[str, Callable[[Sample, Sample], Sample]] = {
    "blank": blank_query, "swap": swapped_query}


def parse_controls(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONTROLS]
    if unknown:
        raise ConfigError(f"--controls: unknown {', '.join(unknown)}; known: "
                          f"{', '.join(CONTROLS)}")
    return names


def control_steps(steps: Sequence[TaskStep], control: str) -> list[TaskStep]:
    """Fresh records of the same samples, changed by the control, with the same prompts and
    generation settings as the original first-stage requests."""
    changed = []
    for step in steps:
        run = step.run
        records = [run.record(p, CONTROLS[control](r.sample, run.sample((p + 1) % len(run))))
                   for p, r in zip(step.positions, step.records)]
        changed.append(step.with_records(records))
    return changed
