"""Command-line tools: `tinygraph-train` (cli/train.py) and `tinygraph-draw` (cli/draw.py).

Both report every error as one line on stderr and a non-zero exit status: 2 for bad usage
(argparse), 130 for Ctrl-C, 1 for everything else. Set TINYGRAPH_TRACEBACK=1 to see the
traceback of an unexpected error as well.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from types import ModuleType
from typing import Callable


class CommandError(Exception):
    """A failure the user can act on, reported as one line; `status` is the exit status."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def run_command(prog: str, command: Callable[[], int | None]) -> int:
    """Run `command()` and turn whatever it raises into one line on stderr and an exit status."""
    try:
        return command() or 0
    except CommandError as error:
        report(prog, error)
        return error.status
    except KeyboardInterrupt:
        report(prog, "interrupted")
        return 130
    except (OSError, ValueError, MemoryError) as error:
        report(prog, describe(error))
        return 1
    except Exception as error:                   # a bug, but still one line unless asked for more
        if os.environ.get("TINYGRAPH_TRACEBACK"):
            traceback.print_exc()
        report(prog, f"unexpected {describe(error)} (set TINYGRAPH_TRACEBACK=1 to see where; please report it)")
        return 1


def report(prog: str, message: object) -> None:
    line = " ".join(str(message).split())        # one line, however the message was written
    print(f"{prog}: error: {line}", file=sys.stderr, flush=True)


def describe(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror and not str(error.strerror).startswith("tg."):
        where = f": {error.filename}" if error.filename else ""
        return f"{error.strerror}{where}"
    if isinstance(error, OSError) and error.strerror:
        return str(error.strerror)
    text = str(error)
    kind = type(error).__name__
    return text if re.match(r"[\w.\-]+: ", text) else f"{kind}: {text}"    # "read_idx: ..." names itself


def need_extra(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or say which tinygraph extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CommandError(f"{purpose} needs {module}, which is not installed; "
                           f"install it with: pip install 'tinygraph[{extra}]'") from None
