"""The exception an op raises when it rejects its input."""
from __future__ import annotations


class OpError(ValueError):
    """An op refused its input: `op` names the op, `argument` the argument at fault (None: several).

        OpError("conv2d", "stride", "stride must be >= 1, got 0 (x (1, 1, 5, 5), w (2, 1, 3, 3))")

    reads "conv2d: stride must be >= 1, got 0 (...)". A ValueError, so code that caught NumPy's
    errors before keeps working; code that must tell an op's refusal from NumPy's own errors
    checks the type and fields instead of the message's text.
    """

    def __init__(self, op: str, argument: str | None, message: str):
        super().__init__(f"{op}: {message}")
        self.op = op
        self.argument = argument
        self.message = message

    def __reduce__(self):
        # Rebuild from the fields (the default would call __init__ with the joined message alone).
        return type(self), (self.op, self.argument, self.message)
