"""A self-contained HTML report of one or more runs: the tables, the figure, and a sample
browser (context thumbnails and dialogues, the query image, the output, every judge question
with the judge's letter and the expected one, failures with their reasons)."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from covip_eval.result_files import SamplesLine
from leaderboard.render import to_html
from leaderboard.runs import Run
from leaderboard.tables import Table

THUMB = 112
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:12px 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px}td.num{text-align:right}
tr.reported{color:#555;background:#f6f6f6}tr.delta{font-style:italic;background:#eef4ff}
caption{font-weight:600;text-align:left;padding:4px 0}.note{font-size:12px;color:#555}
details{border:1px solid #ddd;border-radius:6px;margin:6px 0;padding:6px 10px}
details.failed{border-color:#d33}summary{cursor:pointer}
.ctx{display:flex;flex-wrap:wrap;gap:8px}.ctx figure{margin:0;width:230px;font-size:11px}
.ctx figure.pos img{outline:3px solid #2a2}.ctx pre,.out{white-space:pre-wrap;font-size:12px}
.ok{color:#2a2}.bad{color:#d33}.fail{color:#d33;font-weight:600}
"""
SCRIPT = """
function showImages(d){d.querySelectorAll('img[data-img]').forEach(i=>{
if(!i.src){i.src=IMAGES[i.dataset.img];}});
d.querySelectorAll('pre[data-text]').forEach(p=>{
if(!p.textContent){p.textContent=TEXTS[p.dataset.text];}});}
document.addEventListener('DOMContentLoaded',()=>{
document.querySelectorAll('details.sample').forEach(d=>{
if(d.open){showImages(d);}d.addEventListener('toggle',()=>{if(d.open){showImages(d);}});});});
function filterSamples(){const t=document.getElementById('task').value;
const f=document.getElementById('failed').checked;
document.querySelectorAll('details.sample').forEach(d=>{
const show=(t==='all'||d.dataset.task===t)&&(!f||d.classList.contains('failed'));
d.style.display=show?'':'none';});}
"""


class _Store:
    """Each distinct image (as a thumbnail) and each distinct dialogue once per page: samples
    refer to them by key, and a sample's are filled in when it is opened (the same photos and
    dialogues recur across runs and across a task's direct and CAG forms)."""

    def __init__(self) -> None:
        self.images: dict[str, str] = {}
        self.texts: dict[str, str] = {}

    def image(self, image: Any, size: int = THUMB) -> str:
        key = f"{image.sha256[:16]}-{size}"
        if key not in self.images:
            self.images[key] = _thumbnail(image.data, size)
        return f"<img data-img='{key}' alt=''>"

    def text(self, text: str) -> str:
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        self.texts.setdefault(key, text)
        return f"<pre data-text='{key}'></pre>"  # filled as text, never parsed as markup

    def script(self) -> str:
        def literal(value: dict[str, str]) -> str:  # no '<': nothing can close the script
            return json.dumps(value).replace("<", "\\u003c")

        return (f"<script>const IMAGES={literal(self.images)};"
                f"const TEXTS={literal(self.texts)};</script>")


def _thumbnail(data: bytes, size: int) -> str:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        thumb = img.convert("RGB")
        thumb.thumbnail((size, size))
    buf = io.BytesIO()
    thumb.save(buf, format="JPEG", quality=80)
    return f"data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()}"


def _dataset_samples(run: Run, task: str) -> dict[str, Any]:
    """The dataset's samples by id, when the dataset can still be loaded here."""
    info = run.results.datasets.get(task)
    return _load_samples(info.location or info.spec, info.config) if info else {}


@cache
def _load_samples(spec: str, config: str) -> dict[str, Any]:
    """Loaded once per dataset, however many runs and tasks share it."""
    from benchmark import DatasetError, load_benchmark

    try:
        loaded = load_benchmark(spec, config, progress=False)
    except (DatasetError, OSError):
        return {}
    return {s.sample_id: s for s in loaded.samples}


def _questions(details: dict[str, Any]) -> str:
    rows = []
    for q in details.get("questions", []):
        hit = q["judge_answer"] == q["expected"]
        mark = "<span class=ok>✓</span>" if hit else "<span class=bad>✗</span>"
        failure = html.escape(q["judge_failure"] or "")
        judge = html.escape(q["judge_answer"] or "") or f"<span class=fail>{failure}</span>"
        presence = "present" if q["positive"] else "absent"
        rows.append(f"<tr><td>{html.escape(q['name'])}</td><td>{presence}</td>"
                    f"<td>{html.escape(q['question'])}</td><td>{html.escape(q['expected'])}</td>"
                    f"<td>{judge}</td><td>{mark}</td></tr>")
    if not rows:
        return ""
    return ("<table><tr><th>concept</th><th></th><th>question</th><th>expected</th>"
            f"<th>judge</th><th></th></tr>{''.join(rows)}</table>")


def _sample_html(task: str, record: SamplesLine, sample: Any, open_: bool,
                 store: _Store) -> str:
    failure = record.failure
    metrics = ", ".join(f"{k} {n / d:.2f}" for k, (n, d) in record.metrics.items() if d)
    parts = [f"<summary><b>{html.escape(record.doc.sample_id)}</b> · {html.escape(task)} · "
             f"{record.doc.n_concepts} concept(s) · {html.escape(metrics) or ''}"
             f"{' · <span class=fail>failed</span>' if failure else ''}</summary>"]
    if sample is not None:
        figures = []
        for k, concept in enumerate(sample.context):
            css = "pos" if k in sample.positive_indices else ""
            figures.append(f"<figure class={css}>{store.image(concept.image)}<figcaption>"
                           f"<b>{html.escape(concept.name)}</b>{store.text(concept.dialogue)}"
                           "</figcaption></figure>")
        parts.append(f"<div class=ctx>{''.join(figures)}<figure><b>query</b>"
                     f"{store.image(sample.query_image, 220)}</figure></div>")
    if record.caption:
        parts.append(f"<p><b>caption (CAG stage 1)</b></p><div class=out>"
                     f"{html.escape(record.caption)}</div>")
    output = (record.filtered_resps or [None])[0]
    parts.append(f"<p><b>output</b></p><div class=out>{html.escape(output or '')}</div>")
    if failure:
        parts.append(f"<p class=fail>failure: {html.escape(failure)}</p>")
    parts.append(_questions(record.details))
    target = record.target
    if isinstance(target, dict):
        parts.append(f"<p class=note>present: {html.escape(', '.join(target['names']))}</p>")
    elif target is not None:
        parts.append(f"<p class=note>target: {html.escape(str(target))}</p>")
    css = "sample failed" if failure else "sample"
    return (f"<details class='{css}' data-task='{html.escape(task)}'{' open' if open_ else ''}>"
            f"{''.join(parts)}</details>")


def write_report(runs: list[Run], tables: list[Table], figure: Path | None, out: Path,
                 max_samples: int = 25) -> Path:
    sections, tasks, store = [], set(), _Store()
    for run in runs:
        config, judge = run.results.config, run.results.judge or {}
        facts = (f"{run.path.name} · judge {judge.get('judge')} · seed {config['seed']} · "
                 f"{_when(run.results.date)} · git {run.results.git_hash}")
        sections.append(f"<h2>{html.escape(run.model)}</h2><p class=note>{html.escape(facts)}</p>")
        for task in run.results.results:
            if "/" in task or not run.samples_file(task):
                continue
            tasks.add(task)
            by_id = _dataset_samples(run, task)
            for n, record in enumerate(run.samples(task)[:max_samples]):
                sample = by_id.get(record.doc.sample_id)
                sections.append(_sample_html(task, record, sample, n == 0, store))
    options = "".join(f"<option>{html.escape(t)}</option>" for t in sorted(tasks))
    figure_html = ""
    if figure is not None and figure.exists():
        data = base64.b64encode(figure.read_bytes()).decode()
        figure_html = ("<h2>Recognition vs. Acc+</h2>"
                       f"<img width=640 src='data:image/png;base64,{data}'>")
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>covip-eval report</title>"
            f"<style>{STYLE}</style>{store.script()}<script>{SCRIPT}</script></head><body>"
            f"<h1>covip-eval report</h1>{''.join(to_html(t) for t in tables)}{figure_html}"
            f"<h2>Samples</h2><p>task <select id=task onchange=filterSamples()>"
            f"<option>all</option>{options}</select> <label><input type=checkbox id=failed "
            f"onchange=filterSamples()> failed only</label></p>{''.join(sections)}</body></html>")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    tmp = path.with_suffix(".html.partial")
    tmp.write_text(page)
    tmp.replace(path)
    return path


def _when(date: Any) -> str:
    """Results record the date as a float (lm-eval's way); older files as a string."""
    if isinstance(date, (int, float)):
        return datetime.fromtimestamp(date).strftime("%Y-%m-%d %H:%M")
    return str(date)
