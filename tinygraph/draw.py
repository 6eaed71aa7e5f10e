"""`python -m tinygraph.draw`: the same as the `tinygraph-draw` command (tinygraph/cli/draw.py).

Only for running: importing it as `tinygraph.draw` would hide the function `tg.draw` behind this
module, so an import is refused; the command's code is in `tinygraph.cli.draw`.
"""
import sys

if __name__ != "__main__":
    raise ImportError("tinygraph.draw is the function tg.draw; the drawing command is tinygraph.cli.draw "
                      "(run it with `python -m tinygraph.draw` or `tinygraph-draw`)")

from tinygraph.cli.draw import main  # noqa: E402

sys.exit(main())
