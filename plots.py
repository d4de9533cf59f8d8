"""Loss curves of a training run as a PNG (matplotlib), read from its TensorBoard event files.

The demo writes one per model into its results folder, so that learning shows as a falling curve
without starting TensorBoard.
"""
from pathlib import Path

import numpy as np


def read_scalars(log_dir):
    """{tag: ([steps], [values])} of every scalar in the event files under `log_dir` (recursive)."""
    import tensorflow as tf
    series = {}
    for event_file in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        prefix = event_file.parent.relative_to(log_dir).as_posix()
        for record in tf.data.TFRecordDataset(str(event_file)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for v in event.summary.value:
                if v.metadata.plugin_data.plugin_name not in ("scalars", ""):
                    continue
                value = tf.make_ndarray(v.tensor) if v.HasField("tensor") else np.float32(v.simple_value)
                if np.ndim(value) != 0:
                    continue
                tag = v.tag if prefix == "." else f"{prefix}/{v.tag}"
                steps, values = series.setdefault(tag, ([], []))
                steps.append(int(event.step))
                values.append(float(value))
    return series


def loss_curves(log_dir, out_png, title):
    """Plot every scalar of a run (one panel per tag, log scale where positive) into `out_png`;
    returns the path, or None when the run logged no scalars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {k: v for k, v in read_scalars(log_dir).items()
              if "/perf/" not in f"/{k}" and k.split("/")[-1] not in ("lr", "learning_rate")}
    if not series:
        return None
    n = len(series)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, (tag, (steps, values)) in zip(axes.flat, sorted(series.items())):
        order = np.argsort(steps)
        s, v = np.asarray(steps)[order], np.asarray(values)[order]
        ax.plot(s, v, lw=1, marker="o" if len(s) < 20 else None, ms=3)
        if np.all(v > 0) and v.max() / max(v.min(), 1e-12) > 20:
            ax.set_yscale("log")
        ax.set_title(tag, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png
