"""demo.py in its reduced mode (--quick), reusing the smoke runs of tests/test_evaluate.py.

The demo skips every model already trained in --runs, so only paper D's l_rec and GLCIC-hole models
are trained here (1 step), which exercises the demo's training path; then all three tables are written."""
import json
import shutil

import demo
from test_evaluate import smoke_runs   # the same module object pytest loaded (one cache)


def test_demo_quick_writes_every_table(tmp_path_factory, tmp_path):
    shared = smoke_runs(tmp_path_factory)
    runs = tmp_path / "runs"
    shutil.copytree(shared, runs)
    out = tmp_path / "results"
    assert demo.main(["--quick", "--out", str(out), "--runs", str(runs), "--deblur-variants", "nonbn_res"]) == 0
    assert (runs / "d_rec" / "export" / "inpainter.keras").is_file()          # trained by the demo
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quick"] and list(summary["train_times_s"]) == [     # summary.json's keys are sorted
        "paper D (GLCIC holes: table A's Context Encoder)", "paper D (l_rec)"]
    readme = (out / "README.md").read_text()
    assert "Smoke demonstration, NOT a reproduction" in readme
    for name in ("A", "D", "E"):
        text = (out / f"table_{name}" / f"table_{name}.md").read_text()
        assert "Smoke demonstration" in text and f"# Paper {name}" in text
        result = json.loads((out / f"table_{name}" / f"table_{name}.json").read_text())
        assert result["limit"] == 1
    d = json.loads((out / "table_D" / "table_D.json").read_text())["sets"]["set5"]["methods"]
    assert d["ours(l_rec)"]["status"] == "ok" and d["ours(l_rec + l_adv)"]["status"] == "ok"
    assert summary["grids"] and all((out / g).is_file() for g in summary["grids"])


def test_demo_plan_covers_every_paper(tmp_path):
    items = demo.plan(tmp_path, demo.FULL, "none", demo.VARIANTS)
    modules = {m for _, _, _, m, _ in items}
    assert modules == {"train_iizuka", "train_unsupervised", "train_wgan_completion", "train_context_encoder",
                       "train_deblur"}
    assert len(items) == 3 + 1 + 1 + 3 + 4          # paper D: l_rec + l_adv, l_rec, and GLCIC holes (table A)
