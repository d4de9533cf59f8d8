"""Command-line parsing for every CLI: argparse errors as ONE line, and checked numeric flag types.

argparse's own error prints the whole usage block (3-20 lines) before `prog: error:`; every parser
here prints `error: <what> (see --help)` and exits 2 instead, like every other user error. Numeric
flags are validated where they are declared (`type=positive_int`, ...), so a bad value never reaches
TensorFlow as a traceback. Free of TensorFlow, like errors.py.
"""
import argparse
import os
import sys

INT64_MAX = 2**63 - 1
MAX_SIDE = 16384          # the largest image side a flag may ask for (a 16k x 16k RGB image is 0.8 GB)


class ArgumentParser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose errors are one `error: ... (see --help)` line, exit code 2.
    verbose=True adds --verbose: TensorFlow's own start-up and info lines are shown (quiet_tf)."""

    def __init__(self, *args, verbose=False, **kwargs):
        super().__init__(*args, **kwargs)
        if verbose:
            self.add_argument("--verbose", action=_Verbose, nargs=0, default=False,
                              help="show TensorFlow's own start-up and info lines (hidden by default)")

    def error(self, message):
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


class _Verbose(argparse.Action):
    """--verbose: TF_CPP_MIN_LOG_LEVEL=0 before TensorFlow is imported, which turns quiet_tf's filter off."""

    def __call__(self, parser, namespace, values, option_string=None):
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        setattr(namespace, self.dest, True)


def _number(kind, check, what):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if kind is float and value != value:     # NaN
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        if not check(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value
    parse.__name__ = what          # argparse names the type in its message
    return parse


positive_int = _number(int, lambda v: 0 < v <= INT64_MAX, "a positive integer")
nonnegative_int = _number(int, lambda v: 0 <= v <= INT64_MAX, "an integer >= 0")
image_side = _number(int, lambda v: 0 < v <= MAX_SIDE, f"an image side in [1, {MAX_SIDE}]")
seed_int = _number(int, lambda v: 0 <= v <= INT64_MAX, "a seed in [0, 2**63 - 1]")
positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive number")
nonnegative_float = _number(float, lambda v: 0 <= v < float("inf"), "a number >= 0")
fraction = _number(float, lambda v: 0 < v < 1, "a number in (0, 1)")
