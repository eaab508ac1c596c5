"""Tables as markdown, LaTeX (booktabs), CSV and HTML; the best value of a column marked."""

from __future__ import annotations

import csv
import html
import io

from leaderboard.tables import COUNT_COLUMNS, Row, Table

_COUNTS = {k for k, _ in COUNT_COLUMNS}


def _cell(row: Row, key: str) -> str:
    value = row.values.get(key)
    if value is None:
        return "-"
    if key in _COUNTS:
        return str(int(value))
    if not row.delta:
        return f"{value:.1f}"
    if key not in row.stderr:
        return f"{value:+.1f}"
    text = f"{value:+.1f} ± {row.stderr[key]:.1f}"
    return f"({text})" if row.within_noise(key) else text


def _number(row: Row, key: str) -> str:
    value = row.values[key]
    if key in _COUNTS:
        return str(int(value))  # type: ignore[arg-type]
    return f"{value:+.1f}" if row.delta else f"{value:.1f}"


def _is_best(table: Table, best: dict[tuple[bool, str], float], row: Row, key: str) -> bool:
    value = row.values.get(key)
    return not row.delta and value is not None and value == best.get((row.reported, key))


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    errors = [k for k, _ in table.columns if any(k in r.stderr for r in table.rows)]
    writer.writerow(["model", "group", "source", *(k for k, _ in table.columns),
                     *(f"{k}_stderr" for k in errors)])
    for row in table.rows:  # numbers only: a delta's errors go to their own columns
        cells = ["" if row.values.get(k) is None else _number(row, k) for k, _ in table.columns]
        writer.writerow([row.label, row.group, row.source, *cells,
                         *(row.stderr.get(k, "") for k in errors)])
    return out.getvalue()


def to_markdown(table: Table) -> str:
    best = table.best()
    lines = [f"**{table.title}**", "",
             "| Model | Group | Source | " + " | ".join(h for _, h in table.columns) + " |",
             "|---|---|---|" + "---:|" * len(table.columns)]
    for row in table.rows:
        cells = [f"**{_cell(row, k)}**" if _is_best(table, best, row, k) else _cell(row, k)
                 for k, _ in table.columns]
        lines.append(f"| {row.label} | {row.group} | {row.source} | " + " | ".join(cells) + " |")
    lines += ["", "Bold: best in its column among reported rows, and among measured rows."]
    lines += [f"_{note}_" for note in table.notes if note]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"),
                 ("#", r"\#"), ("Δ", r"$\Delta$")):
        text = text.replace(a, b)
    return text


def to_latex(table: Table) -> str:
    best = table.best()
    lines = [r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "r" * len(table.columns) + "}", r"\toprule",
             "Model & " + " & ".join(_latex_escape(h) for _, h in table.columns) + r" \\",
             r"\midrule"]
    group = None
    for row in table.rows:
        if group is not None and row.group != group:
            lines.append(r"\midrule")
        group = row.group
        cells = [rf"\textbf{{{_cell(row, k)}}}" if _is_best(table, best, row, k)
                 else _cell(row, k) for k, _ in table.columns]
        label = _latex_escape(row.label) + (r"$^\dagger$" if row.reported else "")
        lines.append(label + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}",
              rf"\caption{{{_latex_escape(table.title)}. $^\dagger$Reported in the CoViP paper.}}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(table: Table) -> str:
    best = table.best()
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in table.columns)
    body = []
    for row in table.rows:
        cells = "".join(
            f"<td class=num>{'<strong>' if _is_best(table, best, row, k) else ''}"
            f"{_cell(row, k)}{'</strong>' if _is_best(table, best, row, k) else ''}</td>"
            for k, _ in table.columns)
        css = "delta" if row.delta else ("reported" if row.reported else "measured")
        body.append(f"<tr class={css}><td>{html.escape(row.label)}</td>"
                    f"<td>{html.escape(row.group)}</td><td>{html.escape(row.source)}</td>"
                    f"{cells}</tr>")
    notes = "".join(f"<p class=note>{html.escape(n)}</p>" for n in table.notes if n)
    return (f"<table id=table-{table.name}><caption>{html.escape(table.title)}</caption>"
            f"<thead><tr><th>Model</th><th>Group</th><th>Source</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{notes}")


RENDERERS = {"markdown": to_markdown, "latex": to_latex, "csv": to_csv, "html": to_html}
EXTENSIONS = {"markdown": "md", "latex": "tex", "csv": "csv", "html": "html"}
