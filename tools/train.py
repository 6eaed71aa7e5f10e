"""`python tools/train.py ...` runs the `tinygraph-train` command; its code is tinygraph/cli/train.py."""
import sys

from tinygraph.cli.train import main, parse_args, run  # noqa: F401  (run and parse_args for scripts)

if __name__ == "__main__":
    sys.exit(main())
