"""--strategy multiworker (MultiWorkerMirroredStrategy over TF_CONFIG).

1. TF_CONFIG is checked in one line (cluster.py) and the chief is TF's (chief task, else worker 0).
2. Every train script creates the strategy before any TF op of its process (TF refuses to
   configure collective ops afterwards): main() runs in a fresh process up to the strategy's
   creation, on a fresh run (--strategy multiworker typed) and on a rerun that takes the strategy
   from config.json.
3. Two worker processes on localhost (CPU, 1 replica each) train paper B's real tiny step
   (bench/steps.py) for 3 steps through distribute.distribute_dataset, train_loop, Checkpointer,
   Summaries and export_model; a third process trains the same step alone on the same global
   batches. (A whole train script under two workers doubled the test's time; all five were run by
   hand that way, see docs/PAPER_NOTES.md.) Checked: the weights and losses of both workers
   equal the 1-process run (BatchNorm statistics are per replica, so the global batches have equal
   halves, as in tests/test_mirrored.py); the real paper-B pipeline is split so that worker 0 gets
   the first half and worker 1 the second half of every 1-process global batch (nothing twice,
   nothing dropped); only the chief wrote into the run directory (file list, the event file's
   pid, and a spy on every write API of each process); the non-chief's temporary checkpoint and
   export folders are gone; a restore in both workers reads the chief's checkpoint.
   Grappler is off in these processes (as tests/conftest.py fast_graphs): it costs more than it
   saves on 3 steps.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from errors import UserError
from training import cluster

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300          # a hung collective fails the test instead of hanging CI

# ----------------------------------------------------------------------------- 1. TF_CONFIG


def _tf_config(workers, index, kind="worker", chief=None):
    cluster_spec = {"worker": [f"localhost:{p}" for p in workers]}
    if chief:
        cluster_spec["chief"] = [f"localhost:{chief}"]
    return json.dumps({"cluster": cluster_spec, "task": {"type": kind, "index": index}})


def test_tf_config_is_checked_in_one_line_and_names_the_chief():
    w0 = cluster.from_env({"TF_CONFIG": _tf_config([1, 2], 0)})
    w1 = cluster.from_env({"TF_CONFIG": _tf_config([1, 2], 1)})
    assert (w0.chief, w1.chief, w0.num_workers) == (True, False, 2)
    with_chief = [cluster.from_env({"TF_CONFIG": _tf_config([1, 2], i, kind, chief=3)})
                  for i, kind in ((0, "chief"), (0, "worker"))]
    assert [w.chief for w in with_chief] == [True, False] and with_chief[0].num_workers == 3
    bad = ["", "{not json", json.dumps({"cluster": {"worker": ["localhost:1"]}}),
           _tf_config([1, 2], 2), _tf_config([1], 0, kind="ps"), _tf_config([1], 0, kind="chief"),
           json.dumps({"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}})]
    for text in bad:
        with pytest.raises(UserError) as e:
            cluster.from_env({"TF_CONFIG": text} if text else {})
        assert "TF_CONFIG" in str(e.value) and "\n" not in str(e.value), text
    assert cluster.for_strategy("mirrored", {}) is None
    assert cluster.is_chief()            # no multi-worker strategy in this process


def test_multiworker_flag_and_missing_tf_config(monkeypatch):
    from training import flags, setup
    args = flags.parse(flags.common_parser(prog="x.py"), ["--strategy", "multiworker"])
    assert args.strategy == "multiworker"
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="needs TF_CONFIG"):
        setup.make_strategy("multiworker")
    assert cluster.active() is None


# ----------------------------------------------------------------------------- 2. created first

PROBE = textwrap.dedent("""
    import sys
    from pathlib import Path
    from tensorflow.python.eager import context
    from training import flags, run, setup
    import train_iizuka, train_unsupervised, train_wgan_completion, train_context_encoder, train_deblur

    class Reached(Exception):
        pass

    real = setup.make_strategy
    def probe(name):
        if name != "multiworker":
            return real(name)
        raise Reached("clean" if context.context()._context_handle is None else "TF ALREADY INITIALISED")
    setup.make_strategy = probe

    common = ["--smoke", "--vgg-weights", "none"]
    scripts = [("train_iizuka", []), ("train_unsupervised", []), ("train_wgan_completion", ["train"]),
               ("train_context_encoder", []), ("train_deblur", [])]
    tmp = Path(sys.argv[1])
    for name, head in scripts:
        run_dir = tmp / name
        for attempt, typed in (("fresh", ["--strategy", "multiworker"]), ("rerun", [])):
            try:
                sys.modules[name].main(head + common + typed + ["--run-dir", str(run_dir)])
                result = "strategy never created"
            except Reached as e:
                result = str(e)
            print(f"{name} {attempt}: {result}", flush=True)
            if attempt == "fresh":      # the rerun adopts --strategy from config.json (needs a checkpoint)
                if not (run_dir / "config.json").exists():    # created before open_run (context encoder)
                    m = sys.modules[name]
                    args = flags.parse(m.build_parser(), head + common + typed + ["--run-dir", str(run_dir)],
                                       smoke=m.SMOKE)
                    run.open_run(args, runtime_keys=getattr(m, "RUNTIME", ()))
                (run_dir / "ckpt").mkdir(exist_ok=True)
                (run_dir / "ckpt" / "placeholder").write_text("x")
""")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", CI="1")
    env.update(extra)
    return env


def test_every_script_creates_the_strategy_before_any_tf_op(tmp_path):
    env = _env(TF_CONFIG=_tf_config([_free_ports(1)[0]], 0))
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = [l for l in proc.stdout.splitlines() if l.startswith("train_")]
    assert len(lines) == 10 and all(l.endswith(": clean") for l in lines), lines


# ----------------------------------------------------------------------------- 3. two workers

WORKER = textwrap.dedent("""
    import json, sys, time
    T0 = time.perf_counter()
    def phase(name):
        print(f"PHASE {name} {time.perf_counter() - T0:.1f}", flush=True)
    from pathlib import Path
    from training import cluster, flags, setup
    base, out = Path(sys.argv[1]), Path(sys.argv[2])
    args = flags.parse(flags.common_parser(prog="mw.py"), [
        "--strategy", "multiworker", "--run-dir", str(base / "run"), "--batch-size", "4", "--steps", "3",
        "--save-every", "2", "--image-every", "2", "--log-every", "1", "--keep", "5"])
    strategy = setup.configure(args)                    # the process's first TF op
    worker = cluster.active()
    phase("strategy")
    assert strategy.num_replicas_in_sync == 2 and worker.num_workers == 2

    import keras, numpy as np, tensorflow as tf
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})   # no Grappler: 3 steps
    from bench import steps
    import rundir
    from training import checkpoint, distribute, export, loop, run, summaries
    import train_unsupervised as B

    written = []                                        # every path this process writes through an API
    def spy(owner, name, pick):
        real = getattr(owner, name)
        def wrapped(*a, **k):
            written.append(str(pick(*a, **k)))
            return real(*a, **k)
        setattr(owner, name, wrapped)
    spy(tf.train.CheckpointManager, "save", lambda self, *a, **k: self.directory)
    spy(rundir, "write_json_atomic", lambda path, *a, **k: path)
    spy(tf.summary, "create_file_writer", lambda d, *a, **k: d)
    spy(tf.io, "write_file", lambda path, *a, **k: path)
    spy(keras.Model, "save", lambda self, path, *a, **k: path)

    # (a) paper B's tiny step through the real dataset / loop / checkpoint path
    r = run.open_run(args)
    raw = steps.build("B", "tiny", duplicate=True)      # default strategy: the global batches [x; x]
    glob = [raw.batch(i) for i in range(3)]
    built = steps.build("B", "tiny", strategy=strategy, duplicate=True)
    phase("built")
    G, D = built.models["generator"], built.models["discriminator"]
    (g_opt, _), (d_opt, _) = built.optimizers
    with strategy.scope():
        ckpt = checkpoint.Checkpointer(r.ckpt_dir, keep=args.keep, generator=G, discriminator=D,
                                       g_opt=(g_opt, G), d_opt=(d_opt, D))
    assert ckpt.restore() == 0
    examples = {k: tf.concat([b[k] for b in glob], 0) for k in glob[0]}

    def batches(start):
        ds = tf.data.Dataset.from_tensor_slices(examples).skip(start * 4).batch(4, drop_remainder=True)
        return distribute.distribute_dataset(strategy, ds)

    losses = []
    def step(batch):
        out = built.step(batch)
        losses.append(out)
        return out
    logs = summaries.Summaries(r.log_dir, r.image_dir)
    loop.train_loop(step, batches, ckpt, args.steps, summaries=logs, images_fn=lambda s: {"real": glob[0]["real"]},
                    **{k: v for k, v in loop.loop_flags(args).items() if k != "steps"})
    export.export_model(G, r.dir / "export" / "g.keras")
    phase("trained")
    weights = built.weights()

    # resume: fresh models, restored from the chief's checkpoint (the non-chief never wrote there)
    again = steps.build("B", "tiny", strategy=strategy, seed=5)
    (g2, _), (d2, _) = again.optimizers
    with strategy.scope():
        ck2 = checkpoint.Checkpointer(r.ckpt_dir, keep=args.keep, generator=again.models["generator"],
                                      discriminator=again.models["discriminator"],
                                      g_opt=(g2, again.models["generator"]), d_opt=(d2, again.models["discriminator"]))
    resumed = ck2.restore()
    restored = max(float(np.abs(a - b).max()) for a, b in zip(again.weights(), weights))
    phase("resumed")

    # the real paper-B input pipeline, distributed: this worker's rows of the first 2 global batches
    dsrc, rsrc, _ = B.split_halves("samples")
    it = iter(distribute.distribute_dataset(strategy, B.training_batches(dsrc, rsrc, 16, 4, 0)))
    pipe = [next(it) for _ in range(2)]
    local = {f"{i}_{k}": tf.concat(strategy.experimental_local_results(v), 0).numpy()
             for i, b in enumerate(pipe) for k, v in b.items()}
    phase("pipeline")

    t = worker.task_id
    np.savez(out / f"weights{t}.npz", *weights)
    np.savez(out / f"pipe{t}.npz", **local)
    (out / f"worker{t}.json").write_text(json.dumps(dict(
        chief=worker.chief, losses=[{k: float(v) for k, v in l.items()} for l in losses],
        written=written, temp_dirs=ckpt.temp_dirs, resumed=resumed, restored=restored)))
    print("WORKER OK", t, flush=True)
""")

REFERENCE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np, tensorflow as tf
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})   # as the workers
    from bench import steps
    import train_unsupervised as B
    out = Path(sys.argv[1])
    built = steps.build("B", "tiny", duplicate=True)
    init = built.weights()
    losses = steps.run_losses(built, 3)
    np.savez(out / "weights_ref.npz", *built.weights())
    np.savez(out / "init_ref.npz", *init)
    dsrc, rsrc, _ = B.split_halves("samples")
    it = iter(B.training_batches(dsrc, rsrc, 16, 4, 0))
    np.savez(out / "pipe_ref.npz", **{f"{i}_{k}": v.numpy() for i in range(2) for k, v in next(it).items()})
    (out / "ref.json").write_text(json.dumps(dict(losses=losses)))
    print("REFERENCE OK", flush=True)
""")


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _start(code, args, env, log):
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)


def _npz(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))] if "arr_0" in f.files \
            else {k: f[k] for k in f.files}


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file())


def test_two_workers_equal_one_process_and_only_the_chief_writes(tmp_path):
    ports = _free_ports(2)
    out, base = tmp_path / "out", tmp_path / "shared"
    out.mkdir()
    base.mkdir()
    procs, logs = [], []
    # the 1-process reference first (alone it takes ~10 s; beside the two workers on a 2-core machine
    # it has hung), then the two workers together
    logs.append(open(tmp_path / "reference.log", "w+"))
    reference = _start(REFERENCE, [out], _env(), logs[-1])
    try:
        reference.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        reference.kill()
        reference.wait()
    t0 = time.perf_counter()
    for i in range(2):
        (tmp_path / f"tmp{i}").mkdir()
        logs.append(open(tmp_path / f"worker{i}.log", "w+"))
        env = _env(TF_CONFIG=_tf_config(ports, i), TMPDIR=str(tmp_path / f"tmp{i}"))
        procs.append(_start(WORKER, [base, out], env, logs[-1]))
    logs.append(logs.pop(0))                                  # report order: worker 0, worker 1, reference
    procs.append(reference)
    try:
        for p in procs:
            p.wait(timeout=max(1.0, TIMEOUT - (time.perf_counter() - t0)))
    except subprocess.TimeoutExpired:
        pass
    finally:
        hung = [p for p in procs if p.poll() is None]
        for p in hung:
            p.kill()
            p.wait()
        texts = []
        for f in logs:
            f.seek(0)
            texts.append(f.read())
            f.close()
    for name, p, text in zip(("worker 0", "worker 1", "reference"), procs, texts):
        print(f"----- {name} (rc {p.returncode})\n{text[-3000:]}")
    assert not hung, f"{len(hung)} process(es) still running after {TIMEOUT} s (a hung collective?)"
    assert all(p.returncode == 0 for p in procs), [p.returncode for p in procs]
    print(f"3 processes: {time.perf_counter() - t0:.1f} s")

    # (a) both workers hold the weights of the 1-process run, and logged its losses
    w = [_npz(out / f"weights{i}.npz") for i in range(2)]
    ref, init = _npz(out / "weights_ref.npz"), _npz(out / "init_ref.npz")
    assert all(np.array_equal(a, b) for a, b in zip(w[0], w[1])), "the two workers' weights differ"
    moved = max(float(np.abs(a - b).max()) for a, b in zip(ref, init))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(w[0], ref))
    print(f"weights: DIFF {diff:.3g} MOVED {moved:.3g}")
    assert moved > 1e-4 and diff < 1e-3 * moved + 1e-6, (diff, moved)
    info = [json.loads((out / f"worker{i}.json").read_text()) for i in range(2)]
    ref_losses = json.loads((out / "ref.json").read_text())["losses"]
    for mine in (info[0]["losses"], info[1]["losses"]):
        assert len(mine) == 3
        assert max(abs(a[k] - b[k]) for a, b in zip(mine, ref_losses) for k in b) < 1e-4, (mine, ref_losses)
    assert [i["resumed"] for i in info] == [3, 3] and max(i["restored"] for i in info) == 0.0

    # the real pipeline: worker 0 = first half, worker 1 = second half of each global batch
    pipes = [_npz(out / f"pipe{i}.npz") for i in range(2)]
    pref = _npz(out / "pipe_ref.npz")
    assert sorted(pref) == sorted(pipes[0]) == sorted(pipes[1])
    for key, glob in pref.items():
        assert glob.shape[0] == 4 and pipes[0][key].shape[0] == pipes[1][key].shape[0] == 2, key
        np.testing.assert_array_equal(np.concatenate([pipes[0][key], pipes[1][key]]), glob, err_msg=key)

    # (b) only the chief wrote into the run directory
    chief, other = info
    assert chief["chief"] and not other["chief"]
    inside = lambda p: Path(p).resolve().is_relative_to(base.resolve())
    assert not [p for p in other["written"] if inside(p)], other["written"]
    assert chief["written"] and all(inside(p) for p in chief["written"]), chief["written"]
    run_files = _files(base / "run")
    expected = {"config.json", "trainer.lock", "ckpt/checkpoint", "images/samples_00000002.png", "export/g.keras"}
    expected |= {f"ckpt/ckpt-{s}.{ext}" for s in (2, 3) for ext in ("index", "data-00000-of-00001")}
    events = [f for f in run_files if f.startswith("logs/events.out.tfevents.")]
    assert set(run_files) == expected | set(events), run_files
    chief_pid = str(procs[0].pid)
    assert len(events) == 1 and f".{chief_pid}." in events[0], (events, chief_pid)
    # the non-chief saved its checkpoints (steps 2 and 3) to temporary folders, all deleted
    assert len(other["temp_dirs"]) == 2 and not any(os.path.exists(d) for d in other["temp_dirs"])
    assert chief["temp_dirs"] == []
    assert not _files(tmp_path / "tmp1"), _files(tmp_path / "tmp1")
    assert "--strategy multiworker: worker 1 of 2 workers (not the chief" in texts[1]
    assert "done: step 3/3" in texts[0] and "done: step" not in texts[1]
