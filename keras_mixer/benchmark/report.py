"""The benchmark report: a text table, CSV, JSON and a PNG chart."""

import csv
import json
import os

COLUMNS = (
    "framework", "backend", "model", "form", "dtype", "task", "batch", "images_per_s",
    "latency_p50_ms", "latency_p99_ms", "first_call_s", "gflop_per_image", "gflop_s",
    "fraction_of_peak", "peak_memory_mb", "top1_agreement", "skipped",
)
FILES = ("results.csv", "results.json", "results.png")


def _cell(value):
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return "" if value is None else str(value)


def header(report):
    """Machine, versions, date and matmul peaks as lines of text."""
    machine = report["machine"]
    cpu = machine["cpu"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        f"Date: {machine['date']}",
        f"CPU: {cpu['model']}, {cpu['cores']} cores, flags: {' '.join(cpu['flags']) or 'none'}",
        f"Threads per process: {report['settings']['threads']}",
        f"Versions: {versions}",
    ]
    for peak in report["matmul_peaks"]:
        lines.append(f"Matmul peak {peak['framework']}/{peak['backend']} {peak['dtype']} "
                     f"{peak['size']}x{peak['size']}: {peak['gflop_s']:.1f} GFLOP/s")
    return lines


def table(report):
    """The result rows as a fixed-width text table (images/s, GFLOP/s, % of peak, ...)."""
    names = ("framework", "backend", "model", "form", "dtype", "task", "batch", "images_per_s",
             "latency_p50_ms", "latency_p99_ms", "first_call_s", "gflop_s", "fraction_of_peak",
             "peak_memory_mb", "top1_agreement")
    titles = ("frame", "backend", "model", "form", "dtype", "task", "batch", "img/s", "p50 ms",
              "p99 ms", "first s", "GFLOP/s", "% peak", "peak MiB", "top-1 =")
    body = []
    for row in report["rows"]:
        cells = []
        for name in names:
            value = row.get(name)
            if name == "fraction_of_peak" and value is not None:
                value = f"{100 * value:.0f}%"
            elif name in ("latency_p50_ms", "latency_p99_ms") and row["batch"] != 1:
                value = None
            cells.append(_cell(value))
        if row.get("skipped"):
            cells[7] = "skipped"
        body.append(cells)
    widths = [max(len(t), *(len(r[i]) for r in body)) if body else len(t)
              for i, t in enumerate(titles)]
    lines = ["  ".join(t.ljust(w) for t, w in zip(titles, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in body]
    return "\n".join(lines)


def write_csv(report, path):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in report["rows"]:
            writer.writerow({key: row.get(key) for key in COLUMNS})


def write_json(report, path):
    with open(path, "w") as file:
        json.dump(report, file, indent=1)


def write_chart(report, path):
    """Bar chart of images/s per model: one panel per task and batch, bars per framework."""
    from matplotlib import colormaps

    from keras_mixer.analysis.figures import new_figure
    from keras_mixer.analysis.figures import save_figure

    rows = [r for r in report["rows"] if not r.get("skipped")]
    panels = sorted({(r["task"], r["batch"]) for r in rows})
    models = list(dict.fromkeys(r["model"] for r in rows))
    series = list(dict.fromkeys(
        f"{r['backend']} {r['form']} {r['dtype']}" if r["framework"] == "keras"
        else f"timm {r['dtype']}" for r in rows
    ))
    figure = new_figure(max(8, 2 * len(models)), 3.2 * max(len(panels), 1))
    axes = figure.subplots(len(panels) or 1, 1, squeeze=False)
    width = 0.8 / max(len(series), 1)
    for axis, (task, batch) in zip(axes[:, 0], panels):
        for index, name in enumerate(series):
            values = []
            for model in models:
                found = [r["images_per_s"] for r in rows if r["model"] == model
                         and r["task"] == task and r["batch"] == batch
                         and (f"{r['backend']} {r['form']} {r['dtype']}" if r["framework"] == "keras"
                              else f"timm {r['dtype']}") == name]
                values.append(found[0] if found else 0.0)
            positions = [m + (index - len(series) / 2 + 0.5) * width for m in range(len(models))]
            axis.bar(positions, values, width, label=name, color=colormaps["tab20"](index % 20))
        axis.set_xticks(range(len(models)), models)
        axis.set_ylabel("images / s")
        axis.set_title(f"{task}, batch {batch}")
    axes[0, 0].legend(fontsize="small", ncol=3)
    cpu = report["machine"]["cpu"]
    figure.suptitle(f"{cpu['model']}, {report['settings']['threads']} threads, "
                    f"{report['machine']['date']}")
    save_figure(figure, path, dpi=90)


def write_report(report, folder):
    """Writes results.csv, results.json and results.png into `folder`; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, name) for name in FILES]
    write_csv(report, paths[0])
    write_json(report, paths[1])
    write_chart(report, paths[2])
    return paths
