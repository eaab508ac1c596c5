"""Figure 5: recognition F1 against Acc+, one colour and one least-squares line per model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leaderboard.runs import Run

CAPTION = ("Each point is one CapEval-QA sample: the recognition F1 of its caption (x) and its "
           "Acc+, the share of questions about present concepts answered correctly (y). Lines "
           "are least-squares fits per model; m is the slope.")


def sample_points(run: Run) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for record in run.samples("capeval_qa"):
        metrics = record.get("metrics") or {}
        if "recognition_f1" not in metrics or not metrics.get("acc_pos"):
            continue
        num, den = metrics["acc_pos"]
        if den:
            xs.append(metrics["recognition_f1"][0])
            ys.append(num / den)
    return np.array(xs), np.array(ys)


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
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    rng = np.random.default_rng(0)
    for colour, (label, xs, ys) in zip(plt.cm.tab10.colors, series):
        jitter = rng.uniform(-0.01, 0.01, size=(2, len(xs)))  # overlapping points stay visible
        m = slope(xs, ys)
        ax.scatter(xs + jitter[0], ys + jitter[1], s=14, alpha=0.35, color=colour)
        n = f"n = {len(xs)}"
        legend = (f"{label} (m = {m:.2f}, {n})" if m is not None
                  else f"{label} (no slope: F1 constant, {n})")
        if m is not None:
            b = float(np.polyfit(xs, ys, 1)[1])
            grid = np.linspace(xs.min(), xs.max(), 50)  # the fit only where there is data
            ax.plot(grid, m * grid + b, color=colour, linewidth=2, label=legend)
        else:
            ax.plot([], [], color=colour, label=legend)
    ax.set(xlabel="recognition F1", ylabel="Acc+", xlim=(-0.05, 1.05), ylim=(-0.05, 1.05),
           title="Recognition vs. retrieval (CapEval-QA)")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, CAPTION, fontsize=7, wrap=True, va="bottom")
    fig.subplots_adjust(bottom=0.2)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "figure5.png", out / "figure5.svg"]
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths
