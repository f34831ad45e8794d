"""The benchmark report: a text table, CSV, JSON and a PNG chart."""

import csv
import json
import os

from keras_mixer.staging import staged

COLUMNS = (
    "framework", "backend", "jit_compile", "model", "form", "dtype", "task", "batch",
    "images_per_s", "latency_p50_ms", "latency_p99_ms", "first_call_s", "gflop_per_image",
    "gflop_s", "fraction_of_peak", "peak_memory_mb", "gpu_peak_memory_mb", "gpu_peak_scope",
    "top1_agreement", "skipped",
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
    ]
    if report["settings"].get("device") == "gpu":
        lines += [f"GPU: {g['name']}, {g['memory_mib']} MiB, driver {g['driver']}"
                  for g in machine.get("gpus", [])]
        lines.append("GPU MiB: the row's own peak (torch); JAX's is the process's peak so far "
                     "(marked *; JAX cannot reset it)")
    else:
        lines.append(f"Threads per process: {report['settings']['threads']}")
    lines.append(f"Versions: {versions}")
    for peak in report["matmul_peaks"]:
        lines.append(f"Matmul peak {peak['framework']}/{peak['backend']} {peak['dtype']} "
                     f"{peak['size']}x{peak['size']}: {peak['gflop_s']:.1f} GFLOP/s")
    lines += [f"Note {n['framework']}/{n['backend']}: {n['message']}"
              for n in report.get("notes", [])]
    return lines


def series(row):
    """The name of `row`'s bar series: backend (+ jit on torch), form, dtype; or timm's."""
    if row["framework"] != "keras":
        return f"{row['framework']} {row['dtype']}"
    jit = " jit" if row["backend"] == "torch" and row.get("jit_compile") is True else ""
    return f"{row['backend']}{jit} {row['form']} {row['dtype']}"


def _gpu_memory(row):
    value = row.get("gpu_peak_memory_mb")
    if value is None:
        return None
    return f"{value:.0f}" + ("*" if row.get("gpu_peak_scope") == "process" else "")


def table(report):
    """The result rows as a fixed-width text table (images/s, GFLOP/s, % of peak, ...)."""
    names = ["framework", "backend", "jit_compile", "model", "form", "dtype", "task", "batch",
             "images_per_s", "latency_p50_ms", "latency_p99_ms", "first_call_s", "gflop_s",
             "fraction_of_peak", "peak_memory_mb", "top1_agreement"]
    titles = ["frame", "backend", "jit", "model", "form", "dtype", "task", "batch", "img/s",
              "p50 ms", "p99 ms", "first s", "GFLOP/s", "% peak", "peak MiB", "top-1 ="]
    if any(row.get("gpu_peak_memory_mb") is not None for row in report["rows"]):
        names.append("gpu_peak_memory_mb")
        titles.append("GPU MiB")
    body = []
    for row in report["rows"]:
        cells = []
        for name in names:
            value = row.get(name)
            if name == "fraction_of_peak" and value is not None:
                value = f"{100 * value:.0f}%"
            elif name in ("latency_p50_ms", "latency_p99_ms") and row["batch"] != 1:
                value = None
            elif name == "gpu_peak_memory_mb":
                value = _gpu_memory(row)
            cells.append(_cell(value))
        if row.get("skipped"):
            cells[names.index("images_per_s")] = "skipped"
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
    names = list(dict.fromkeys(series(r) for r in rows))
    figure = new_figure(max(8, 2 * len(models)), 3.2 * max(len(panels), 1))
    axes = figure.subplots(len(panels) or 1, 1, squeeze=False)
    width = 0.8 / max(len(names), 1)
    for axis, (task, batch) in zip(axes[:, 0], panels):
        for index, name in enumerate(names):
            values = []
            for model in models:
                found = [r["images_per_s"] for r in rows if r["model"] == model
                         and r["task"] == task and r["batch"] == batch and series(r) == name]
                values.append(found[0] if found else 0.0)
            positions = [m + (index - len(names) / 2 + 0.5) * width for m in range(len(models))]
            axis.bar(positions, values, width, label=name, color=colormaps["tab20"](index % 20))
        axis.set_xticks(range(len(models)), models)
        axis.set_ylabel("images / s")
        axis.set_title(f"{task}, batch {batch}")
    axes[0, 0].legend(fontsize="small", ncol=3)
    gpus = report["machine"].get("gpus") if report["settings"].get("device") == "gpu" else None
    where = (gpus[0]["name"] if gpus else
             f"{report['machine']['cpu']['model']}, {report['settings']['threads']} threads")
    figure.suptitle(f"{where}, {report['machine']['date']}")
    save_figure(figure, path, dpi=90)


def _write(writer, report, path):
    """`writer(report, ...)` into a staged file renamed over `path`: never half-written."""
    with staged(path, overwrite=True) as staging:
        writer(report, staging)
    return path


def write_data(report, folder):
    """Writes results.csv and results.json into `folder` (as a run goes); returns their paths."""
    os.makedirs(folder, exist_ok=True)
    return [_write(writer, report, os.path.join(folder, name))
            for writer, name in ((write_csv, FILES[0]), (write_json, FILES[1]))]


def write_report(report, folder):
    """Writes results.csv, results.json and results.png into `folder`; returns their paths."""
    return write_data(report, folder) + [_write(write_chart, report,
                                                os.path.join(folder, FILES[2]))]
