"""`python -m tinygraph.train`: the same as the `tinygraph-train` command (tinygraph/cli/train.py)."""
import sys

from tinygraph.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
