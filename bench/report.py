"""What every bench command shares at its end: the machine's name, and the table printed and written
with its rows (markdown and JSON). Standard library only: bench/jax_proxy.py's machine has no TensorFlow."""
import json
import os
import platform
from pathlib import Path


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine(gpu_names=()):
    """"1 GPU(s) NVIDIA H100 ..." for the accelerators' names, else "16-core CPU (its model)"."""
    gpu_names = list(gpu_names)
    if gpu_names:
        return f"{len(gpu_names)} GPU(s) {gpu_names[0]}".rstrip()
    return f"{os.cpu_count()}-core CPU ({cpu_model()})"


def publish(table, meta, rows, markdown=None, json_path=None):
    """Print the markdown `table`; write it to `markdown` and {meta, rows} to `json_path` where given."""
    print(table)
    if markdown:
        Path(markdown).write_text(table + "\n")
    if json_path:
        Path(json_path).write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
