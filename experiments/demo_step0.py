"""The demo's tables for the same models after ONE training step (issue 14's "step 0" rows):
demo.FULL with every step count set to 1; sizes, widths, preset flags and evaluation unchanged.

    python -m experiments.demo_step0 results_step0
"""
import sys

import demo


def main(out):
    demo.FULL = dict(demo.FULL, a_steps=(1, 1, 1), b_steps=1, c_steps=1, d_steps=1, e_steps=1, e_steps_l=1)
    return demo.main(["--out", str(out)])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "results_step0"))
