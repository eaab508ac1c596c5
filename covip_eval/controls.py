"""Visual-reliance controls: the same evaluation with each query image blanked (flat grey,
same size) or swapped with another sample's. The ground truth stays the original's, so a
model that looks at the photo loses accuracy under both, and a model that does not look
loses nothing: the drop is what looking is worth."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import replace

from benchmark import ImageData, Sample
from covip_eval.errors import ConfigError
from covip_eval.evaluator import SampleRecord, TaskRun
from covip_eval.request_builder import caption_request, direct_request

GREY = (128, 128, 128)


def _png(image) -> ImageData:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return ImageData(buf.getvalue())


def blank_queries(samples: Sequence[Sample]) -> list[Sample]:
    from PIL import Image

    return [replace(s, query_image=_png(Image.new("RGB", s.query_image.to_pil().size, GREY)))
            for s in samples]


def swapped_queries(samples: Sequence[Sample]) -> list[Sample]:
    """Sample i shows sample i+1's query image (the last shows the first's)."""
    n = len(samples)
    return [replace(s, query_image=samples[(i + 1) % n].query_image)
            for i, s in enumerate(samples)] if n > 1 else list(samples)


CONTROLS: dict[str, Callable[[Sequence[Sample]], list[Sample]]] = {
    "blank": blank_queries, "swap": swapped_queries}


def parse_controls(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONTROLS]
    if unknown:
        raise ConfigError(f"--controls: unknown {', '.join(unknown)}; known: "
                          f"{', '.join(CONTROLS)}")
    return names


def control_runs(runs: Sequence[TaskRun], control: str) -> list[TaskRun]:
    """Fresh runs of the same tasks over the changed samples, with the same prompts and
    generation settings as the original first-stage requests."""
    changed = []
    for run in runs:
        samples = CONTROLS[control]([r.sample for r in run.records])
        records = []
        for record, sample in zip(run.records, samples):
            params = record.first_request.params
            build = direct_request if run.config.mode == "direct" else caption_request
            records.append(SampleRecord(record.index, sample, record.mode,
                                        build(sample, run.prompts, params)))
        changed.append(run.with_records(records))
    return changed
