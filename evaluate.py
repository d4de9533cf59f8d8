"""Score every method of a paper's table on the SAME inputs; write a markdown table, a JSON file
with per-image figures, the output images and an image grid into --out.

    python evaluate.py --table A [--dataset celeb_a] [--limit N]      # paper A, tables 1 and 2
    python evaluate.py --table D --set5 DIR --set14 DIR --bsd100 DIR  # paper D, PSNR table
    python evaluate.py --table E --eval-set datasets/deblur_eval      # paper E, the ablation
    python evaluate.py --table E --model runs/deblur_nonbn_res_l --eval-set datasets/deblur_eval [--json F]
    python evaluate.py make-eval-set --dataset div2k --out datasets/deblur_eval   # paper E's fixed set

Each table is a module of evaluation/ that the paper registry names (papers.py, `table_module`); its
flags are in its group below, with its protocol. A run directory that does not exist gives a
"not trained" row instead of failing the table.
"""
import argparse
import importlib
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import papers
import rundir
import cliargs
from cliargs import image_side, positive_int
from errors import cli
from quiet_tf import import_tensorflow


def tables():
    """{table: its evaluation module} for every table the registry names now (papers.TABLES, read at
    call time, so a paper registered after this module was imported is listed and handled)."""
    return {table: importlib.import_module(papers.table_module(table)) for table in papers.TABLES}


def __getattr__(name):
    """evaluate.TABLES: the registry's tables at the time of asking (see tables())."""
    if name == "TABLES":
        return papers.TABLES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def commands(modules):
    """{subcommand: function(argv) -> exit code} that the table modules add (make-eval-set)."""
    found = {}
    for module in modules.values():
        found.update(getattr(module, "COMMANDS", {}))
    return found


def subcommand_lines(modules):
    """One help line per subcommand: its usage and the first line of its docstring."""
    lines = []
    for name, fn in commands(modules).items():
        doc = (fn.__doc__ or "").strip()
        lines.append(f"    python evaluate.py {name} ...    {doc.splitlines()[0] if doc else ''}".rstrip())
    return lines


def build_parser(modules=None):
    modules = tables() if modules is None else modules
    lines = subcommand_lines(modules)
    p = cliargs.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, verbose=True,
                               epilog="\n".join(["subcommands (each has its own --help):", *lines]) if lines else None)
    p.add_argument("--table", required=True, choices=tuple(modules), help="which paper's table")
    p.add_argument("--out", default=None, help="output folder (default: results/table_<X>)")
    p.add_argument("--limit", type=positive_int, default=None, help="score only the first N images (stated in the table)")
    p.add_argument("--dataset", default=None,
                   help="source of the test images (tfds name, folder or samples); the table's default is in its group")
    p.add_argument("--data-dir", default=None, help="tfds data directory")
    p.add_argument("--image-size", type=image_side, default=None,
                   help="evaluation image size, for the tables that resize (the default is in the table's group)")
    p.add_argument("--step0", action="store_true",
                   help="beside each trained model, the same model untrained (its initial weights): "
                        "learning shows as the difference (the demo passes it)")
    p.add_argument("--note", default=None, help="a line printed at the top of the table (e.g. the training budget)")
    p.add_argument("--blend", action=argparse.BooleanOptionalAction, default=None,
                   help="Poisson-blend every method's hole (the default is in the table's group)")
    p.add_argument("--reuse-rows", action="store_true",
                   help="keep each row already scored on the same inputs by the same model files and settings "
                        "(saved in <out>/rows/; delete it to recompute): demo.py rescores a table after each model")
    for module in modules.values():
        module.add_arguments(p)
    return p


def evaluate(argv=None, log=print):
    """Run one table; returns (result dict, markdown text). Files go to --out."""
    modules = tables()
    args = build_parser(modules).parse_args(argv)
    table = modules[args.table]
    table.defaults(args)
    import_tensorflow()        # once the flags are parsed: --help and a flag error never wait for it
    instead = getattr(table, "run_instead", None)
    done = instead(args, log=log) if instead is not None else None
    if done is not None:                  # what the flags asked for instead of the table (E: --model)
        return done
    args.out = str(Path(args.out or Path("results") / f"table_{args.table}"))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    result = table.make(args, log=log)
    result["limit"] = args.limit
    result["note"] = args.note
    text = table.markdown(result)
    if args.note:
        title, rest = text.split("\n", 1)
        text = f"{title}\n\n**{args.note}**\n{rest}"
    (Path(args.out) / f"table_{args.table}.md").write_text(text)
    rundir.write_json_atomic(Path(args.out) / f"table_{args.table}.json", result)
    return result, text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    subcommands = commands(tables())
    if argv and argv[0] in subcommands:
        import_tensorflow()
        return subcommands[argv[0]](argv[1:])
    result, text = evaluate(argv)
    print(text)
    return 0


if __name__ == "__main__":
    cli(main)
