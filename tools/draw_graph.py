"""`python tools/draw_graph.py ...` runs the `tinygraph-draw` command; its code is tinygraph/cli/draw.py."""
import sys

from tinygraph.cli.draw import main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
