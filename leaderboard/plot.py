"""Figure 5: recognition F1 against Acc+, one colour and one least-squares line per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from leaderboard.runs import Run

CAPTION = ("Each point is one CapEval-QA sample: the recognition F1 of its caption (x) and its "
           "Acc+, the share of questions about present concepts answered correctly (y), both in "
           "percent as in the tables. Lines are least-squares fits per model, drawn over the "
           "range of its points; m is the slope (Acc+ points per F1 point).")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")  # with tab10: ten models apart


def sample_points(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """Recognition F1 and Acc+ of each logged sample, in percent."""
    xs, ys = [], []
    for line in run.samples("capeval_qa"):
        metrics = line.metrics
        if "recognition_f1" not in metrics or not metrics.get("acc_pos"):
            continue
        num, den = metrics["acc_pos"]
        if den:
            xs.append(metrics["recognition_f1"][0])
            ys.append(num / den)
    return 100 * np.array(xs), 100 * np.array(ys)


def slope(xs: np.ndarray, ys: np.ndarray) -> float | None:
    if len(xs) < 2 or np.ptp(xs) == 0:
        return None
    return float(np.polyfit(xs, ys, 1)[0])


def figure5(runs: list[Run], out: Path) -> list[Path]:
    """Write figure5.png and figure5.svg; returns the paths (none when no run logged samples)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [(run.model, *sample_points(run)) for run in runs]
    series = [s for s in series if len(s[1])]
    if not series:
        return []
    fig = draw(series)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "figure5.png", out / "figure5.svg"]
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths


def draw(series: list[tuple[str, np.ndarray, np.ndarray]]) -> Any:
    """The figure of (model, F1 %, Acc+ %) series: one colour and marker per model."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.0, 5.2))
    rng = np.random.default_rng(0)
    # models with the fewest distinct points on top: a constant baseline's single cluster
    # stays visible over a spread-out model's cloud
    order = sorted(range(len(series)), key=lambda i: -len(set(zip(*series[i][1:]))))
    for rank, i in enumerate(order):
        label, xs, ys = series[i]
        colour, marker = plt.get_cmap("tab10")(i % 10), MARKERS[i % len(MARKERS)]
        jitter = rng.uniform(-1.0, 1.0, size=(2, len(xs)))  # overlapping points stay visible
        m = slope(xs, ys)
        legend = (f"{label} (m = {m:.2f}, n = {len(xs)})" if m is not None
                  else f"{label} (no slope: F1 constant, n = {len(xs)})")
        ax.scatter(xs + jitter[0], ys + jitter[1], s=16, alpha=0.45, color=colour,
                   marker=marker, zorder=2 + rank, label=legend)
        if m is not None:
            b = float(np.polyfit(xs, ys, 1)[1])
            grid = np.linspace(xs.min(), xs.max(), 50)  # the fit only where there is data
            ax.plot(grid, np.clip(m * grid + b, 0, 100), color=colour, linewidth=2,
                    zorder=20 + rank)
    ax.set(xlabel="recognition F1 (%)", ylabel="Acc+ (%)", xlim=(-5, 105), ylim=(-5, 105),
           title="Recognition vs. retrieval (CapEval-QA)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, markerscale=1.5,
              frameon=False)  # outside the axes: it never covers a point
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, CAPTION, fontsize=7, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.2, right=0.6)
    return fig
