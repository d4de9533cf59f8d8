"""The one exception type for problems a user can fix, and the guard every CLI runs its main in.

Kept free of TensorFlow and of training/, so that every command line tool can reach the guard.
"""
import functools
import sys


class UserError(Exception):
    """A problem the user can fix; ``str(e)`` is one line that says what is wrong and what to do."""


def main_guard(fn):
    """Decorate a CLI main: UserError -> one line on stderr + exit 2; Ctrl-C -> one line + exit 130.

    The train loop saves a checkpoint before it lets a Ctrl-C through (training.loop.Interrupted).
    """
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            print(f"error: {_one_line(e)}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt as e:
            print(_one_line(e) or "interrupted", file=sys.stderr)
            raise SystemExit(130) from None
    return guarded


def cli(main, argv=None):
    """`if __name__ == "__main__": cli(main)`: run main(argv) guarded and exit with its status."""
    result = main_guard(main)(sys.argv[1:] if argv is None else argv)
    raise SystemExit(result if isinstance(result, int) else 0)


def _one_line(e):
    return " ".join(str(e).splitlines()).strip()
