"""Import TensorFlow without the start-up lines it writes to stderr (command line tools import this first).

TensorFlow 2.21 logs, while its shared libraries load and before absl logging is initialised, lines
that TF_CPP_MIN_LOG_LEVEL does not silence, twice:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796595333.695103    4083 port.cc:153] oneDNN custom operations are on. ...
    I0000 00:00:1796595333.695453    4083 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...

so a command that stops with one `error:` line would print seven. `import_tensorflow()` sets
TF_CPP_MIN_LOG_LEVEL=2 unless it is set, and imports tensorflow with file descriptor 2 sent to a
temporary file; afterwards every line is passed on to stderr except those start-up lines (INFO lines,
`I...`, and the absl notice before them). Warnings and errors pass. TF_CPP_MIN_LOG_LEVEL=0 turns the
filter off (everything TensorFlow says is shown). Nothing happens when tensorflow is already
imported (tests, a tool that imports another tool) or stderr has no file descriptor.

A native crash inside the import (e.g. a CPU without the instructions the wheel was built for) loses
what TensorFlow wrote before it died; run with TF_CPP_MIN_LOG_LEVEL=0 to see it.
"""
import importlib
import os
import re
import sys
import tempfile

_STARTUP = re.compile(r"(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                      r"|I\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "
                      # tensorflow[and-cuda] on a machine without a GPU: it runs on the CPU, nothing to act on
                      r"|E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] failed call to cuInit)")


_LOG_LINE = re.compile(r"([IWEF]\d{4} |WARNING:|ERROR:)")


def startup_noise(line: str) -> bool:
    """True for a line TensorFlow writes while loading that says nothing a user must act on."""
    return bool(_STARTUP.match(line))


def import_tensorflow():
    """`import tensorflow` with its start-up INFO lines dropped from stderr (see the module doc)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):      # a replaced sys.stderr without a descriptor
        fd = None
    if "tensorflow" in sys.modules or fd is None or os.environ["TF_CPP_MIN_LOG_LEVEL"].strip() == "0":
        importlib.import_module("tensorflow")
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), fd)
        try:
            tf = importlib.import_module("tensorflow")
            tf.config.list_physical_devices()     # CUDA's probe (a "failed call to cuInit" line) happens here
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept, dropping = [], False
            for line in text.splitlines(keepends=True):
                # a dropped message's continuation lines ("To enable the following instructions: ...") go too
                dropping = startup_noise(line) or (dropping and not _LOG_LINE.match(line))
                if not dropping:
                    kept.append(line)
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
