"""The generic training driver every train script hands its compiled step to.

Per step: next batch -> step_fn(batch) -> {name: scalar loss} -> step counter + 1. Losses are
fetched to the host and checked for NaN/inf every `check_every` steps (default 1: every step,
one small transfer per loss) and always before a save, so a non-finite loss is caught at the
step it happened and never saved: the run stops with NonFiniteLoss and the latest checkpoint
stays the last good one. Ctrl-C (SIGINT) finishes the current step, saves, and raises
Interrupted; a second Ctrl-C aborts at once without saving.

--strategy multiworker: every worker runs this loop in lockstep (the steps, saves and the NaN
check see the same all-reduced losses, so they decide alike); only the chief shows the progress
bar, prints the log lines and writes summaries (non-chief Summaries are disabled and the image
grids are not computed there). Ctrl-C is NOT turned into a save there: a save needs every worker
at the same step, and a key press reaches one machine's process at some step; Ctrl-C stops that
worker at once (the others then fail at their next collective) and the run resumes from the last
--save-every checkpoint.
"""
import contextlib
import math
import os
import re
import signal
import sys
import threading
import time

import tensorflow as tf
from tqdm import tqdm

from errors import UserError
from training import cluster


class NonFiniteLoss(UserError):
    """A loss became NaN or inf; nothing was saved after it."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C: a checkpoint was saved, the message says where and how to resume."""


def loop_flags(args):
    """The train_loop keyword arguments that come from the common flags."""
    return dict(steps=args.steps, log_every=args.log_every, save_every=args.save_every,
                image_every=args.image_every, batch_size=args.batch_size)


class _SigintFlag:
    """Installs a SIGINT handler for a `with` block (main thread only) and restores the old one."""

    def __init__(self, log, install=True):
        self.requested = False
        self.log = log
        self.install = install     # False: leave SIGINT alone (Ctrl-C raises KeyboardInterrupt)
        self.previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt("interrupted twice: stopped without saving")
        self.requested = True
        self.log("Ctrl-C: saving after this step (press again to stop without saving)")

    def __enter__(self):
        if self.install and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _progress(total, initial, show=True):
    disable = True if os.environ.get("CI") or not show else None   # None: tqdm hides itself when not a TTY
    return tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, smoothing=0.05,
                disable=disable, file=sys.stderr)


def _quiet(*_args, **_kwargs):
    pass


def _fmt(values):
    return " ".join(f"{k} {v:.4g}" for k, v in values.items())


def train_loop(step_fn, batches, ckpt, steps, *, summaries=None, images_fn=None, log_every=100,
               save_every=1000, image_every=1000, batch_size=None, check_every=1, log=print, source=None):
    """Train from ckpt.step to `steps`; return the mean losses of the last logged interval.

    step_fn:   compiled step, step_fn(batch) -> dict of scalar losses (or one scalar tensor).
    batches:   callable start_step -> iterable of batches (preferred: the data resumes where
               the checkpoint left off), or an iterable already positioned at ckpt.step.
    ckpt:      a checkpoint.Checkpointer, already restored.
    summaries: a summaries.Summaries, or None for no TensorBoard output.
    images_fn: step -> dict of image batches in [-1, 1] for the grid (every image_every steps).
    batch_size: global batch size, only for the images/s figure.
    check_every: fetch and check the losses every this many steps (and always before a log,
               an image grid or a save); 1 names the exact step of a NaN at one host sync per step.
    source:    the training ImageSource, to name its smallest image when one is too small.

    ckpt.step is advanced after each step: inside step n (counting from 1) it reads n - 1, so a
    step may use it for schedules or stateless seeds. Checkpoints are written every save_every
    steps and at the end.
    """
    chief, multiworker = cluster.is_chief(), cluster.active() is not None
    if not chief:
        log = _quiet                 # a non-chief worker trains silently (errors still raise)
    if not ckpt.restored and ckpt.saved_step is None and ckpt.latest is not None:
        raise RuntimeError(f"{ckpt.directory} holds checkpoints: call ckpt.restore() before train_loop")
    start = int(ckpt.step.numpy())
    if start >= steps:
        log(f"already at step {start} of {steps}; raise --steps to train further")
        return {}
    with _data_errors(source):
        iterator = iter(batches(start) if callable(batches) else batches)
    pending = []                     # (step, losses as tensors) not yet checked
    sums, count = {}, 0              # host-side loss sums since the last log
    last_means = {}
    step = start
    t_start = t_log = time.perf_counter()
    step_log = start
    bar = _progress(steps, start, show=chief)
    writes = summaries is not None and getattr(summaries, "enabled", True)
    try:
        with _SigintFlag(bar.write if not bar.disable else log, install=not multiworker) as sigint:
            while step < steps:
                try:
                    with _data_errors(source):
                        batch = next(iterator)
                except StopIteration:
                    _check(pending, ckpt)
                    ckpt.save()
                    raise UserError(f"the input data ended at step {step} of {steps} (checkpoint saved); "
                                    f"make the dataset repeat or lower --steps") from None
                losses = step_fn(batch)
                if not isinstance(losses, dict):
                    losses = {"loss": losses}
                step += 1
                ckpt.step.assign_add(1)
                pending.append((step, losses))
                bar.update(1)
                log_now = step % log_every == 0 or step == steps
                save_now = step % save_every == 0 or step == steps or sigint.requested
                image_now = images_fn is not None and writes and step % image_every == 0
                if len(pending) >= check_every or log_now or save_now or image_now:
                    for values in _check(pending, ckpt):
                        for k, v in values.items():
                            sums[k] = sums.get(k, 0.0) + v
                        count += 1
                    pending = []
                if log_now and count:
                    now = time.perf_counter()
                    rate = (step - step_log) / max(now - t_log, 1e-9)
                    last_means = {k: v / count for k, v in sums.items()}
                    extra = {"perf/steps_per_s": rate}
                    if batch_size:
                        extra["perf/images_per_s"] = rate * batch_size
                    if summaries is not None:
                        summaries.scalars(step, {**last_means, **extra})
                    postfix = {k: f"{v:.4g}" for k, v in last_means.items()}
                    if batch_size:
                        postfix["img/s"] = f"{rate * batch_size:.1f}"
                    bar.set_postfix(postfix, refresh=False)
                    if bar.disable:
                        eta = tqdm.format_interval((steps - step) / rate) if rate > 0 else "?"
                        log(f"step {step}/{steps} | {_fmt(last_means)} | {rate:.2f} steps/s | eta {eta}")
                    sums, count, t_log, step_log = {}, 0, now, step
                if image_now:
                    summaries.images(step, images_fn(step))
                if save_now:
                    ckpt.save()
                if sigint.requested:          # may have arrived after save_now was decided
                    _check(pending, ckpt)
                    ckpt.save()
                    raise Interrupted(f"interrupted at step {step}; checkpoint saved in {ckpt.directory}; "
                                      f"rerun the same command to resume")
    finally:
        bar.close()
        if summaries is not None:
            summaries.flush()
    elapsed = time.perf_counter() - t_start
    rate = (step - start) / max(elapsed, 1e-9)
    images = f", {rate * batch_size:.1f} images/s" if batch_size else ""
    log(f"done: step {step}/{steps} in {tqdm.format_interval(elapsed)} ({rate:.2f} steps/s{images})"
        + (f" | {_fmt(last_means)}" if last_means else ""))
    return last_means


@contextlib.contextmanager
def _data_errors(source):
    """Turn the input pipeline's "image smaller than the crop" assertion into a UserError."""
    try:
        yield
    except tf.errors.InvalidArgumentError as e:
        small = _too_small(e, source)
        if small is None:
            raise
        raise UserError(small) from None


def _too_small(error, source):
    """The one-line message for data.preprocess's "image smaller than the crop" assertion, naming
    the source's smallest image when it can; None for any other error."""
    found = re.search(r"smaller than the (\d+)x\d+ random crop", str(error))
    if found is None:
        return None
    need = int(found.group(1))
    smallest = source.smallest() if hasattr(source, "smallest") else None
    where = (f"; the smallest is {smallest[0]} ({smallest[1]}x{smallest[2]})" if smallest else "")
    return (f"training images must be at least {need} px on their short side for this crop (--image-size"
            f" plus any blur margin){where}: lower --image-size or remove the small images")


def _check(pending, ckpt):
    """Host values of the pending losses; NonFiniteLoss at the first NaN/inf (nothing is saved)."""
    out = []
    for step, losses in pending:
        values = {k: float(v.numpy()) if hasattr(v, "numpy") else float(v) for k, v in losses.items()}
        for name, value in values.items():
            if not math.isfinite(value):
                last = f"step {ckpt.saved_step} ({ckpt.latest})" if ckpt.latest else "none yet"
                raise NonFiniteLoss(f"loss {name} is {value} at step {step}; stopped without saving "
                                    f"(latest checkpoint: {last}); lower the learning rate or check the data")
        out.append(values)
    return out
