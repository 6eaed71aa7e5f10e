"""DistributedDataParallel: every process holds a replica, and gradients are averaged during backward.

    model = DistributedDataParallel(SmallCNN())      # rank 0's weights copied to every rank
    loss = softmax_xent(model(x_shard), y_shard)     # each rank: its shard of the batch
    loss.backward()                                  # .grad now holds the average over ranks
    optimizer.step()                                 # the same step everywhere

As PyTorch's does it: parameters are grouped into buckets of about `bucket_cap_mb`, in reverse
order of registration (the order in which backward finishes them). Each parameter's
post-accumulate-grad hook copies its `.grad` into its bucket's flat buffer; a bucket whose last
gradient arrives starts a non-blocking allreduce (MPI_Iallreduce), while backward goes on with
the layers below. Buckets are launched strictly in index order, so every rank issues the same
collectives in the same order.

How the end of backward is known: when the last parameter's gradient is final, every bucket
has been launched, so that hook waits for all of them and writes the averages into `.grad`. The
engine has no end-of-backward hook, and none is needed while every parameter receives a gradient;
a parameter that gets none leaves the reduction open, and the next forward says which one
(PyTorch's "expected to have finished reduction" error; `find_unused_parameters` is not offered).
"""
from __future__ import annotations

import contextlib
import functools
import time
from typing import Any, Iterator, NamedTuple

import numpy as np

from tinygraph.distributed import comm
from tinygraph.nn.module import Module


class BucketEvent(NamedTuple):
    """One moment of a synchronised backward, in the order the hooks saw it."""

    seconds: float              # since this backward's first gradient became final
    kind: str                   # "grad ready", "bucket ready", "allreduce launched" or "allreduce done"
    bucket: int
    names: tuple[str, ...]      # the parameter ("grad ready") or the bucket's parameters


class Bucket:
    """Parameters whose gradients travel in one allreduce, laid end to end in one flat buffer."""

    def __init__(self, index: int, named_params: list[tuple[str, Any]]):
        self.index = index
        self.names = tuple(name for name, _ in named_params)
        self.params = [param for _, param in named_params]
        self.buffer = np.zeros(sum(p.data.size for p in self.params), dtype=self.params[0].data.dtype)
        self.slices, offset = {}, 0
        for param in self.params:
            self.slices[id(param)] = slice(offset, offset + param.data.size)
            offset += param.data.size
        self.pending = len(self.params)
        self.request = None

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes


def make_buckets(named_params: list[tuple[str, Any]], cap_bytes: int) -> list[Bucket]:
    """Reverse registration order, a new bucket when the cap is reached or the dtype changes."""
    buckets, current, size = [], [], 0
    for name, param in reversed(named_params):
        if current and (size >= cap_bytes or param.data.dtype != current[0][1].data.dtype):
            buckets.append(Bucket(len(buckets), current))
            current, size = [], 0
        current.append((name, param))
        size += param.data.nbytes
    if current:
        buckets.append(Bucket(len(buckets), current))
    return buckets


class DistributedDataParallel(Module):
    """Wrap `module` so that backward leaves the average of every rank's gradients in `.grad`."""

    def __init__(self, module: Module, bucket_cap_mb: float = 25, broadcast_buffers: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a tinygraph nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        comm.init()
        self.module = module
        self.world_size = comm.world_size()
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        for _, param in module.named_parameters():          # every replica starts from rank 0's state
            comm.broadcast(param.data, root=0)
        self._broadcast_buffers()
        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        self.buckets = make_buckets(named, int(bucket_cap_mb * 2**20))
        self._bucket_of = {id(param): bucket for bucket in self.buckets for param in bucket.params}
        self._ready: set[int] = set()           # ids of the parameters this backward has finished
        self._next_launch = 0                   # the bucket whose allreduce starts next
        self._sync_backward = True              # read at forward: no_sync() turns it off
        self._started = 0.0
        self.last_backward_events: list[BucketEvent] = []
        self._hook_handles = [param.register_post_accumulate_grad_hook(functools.partial(self._grad_ready, name))
                              for name, param in named]

    # ----------------------------------------------------------------- forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._ready:
            waiting = [name for b in self.buckets for name, p in zip(b.names, b.params) if id(p) not in self._ready]
            raise RuntimeError(f"DistributedDataParallel: the previous backward did not finish its gradient "
                               f"reduction: {', '.join(waiting[:5])}{' ...' if len(waiting) > 5 else ''} received "
                               f"no gradient. Every parameter that requires grad must take part in the loss "
                               f"(freeze the others with requires_grad_(False) before wrapping)")
        if self.broadcast_buffers and self.training:
            self._broadcast_buffers()
        self._sync_backward = self.require_backward_grad_sync
        return self.module(*args, **kwargs)

    def _broadcast_buffers(self) -> None:
        if self.world_size > 1:
            for _, buffer in self.module.named_buffers():
                comm.broadcast(buffer, root=0)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward of forwards run inside only accumulates locally; the next synchronised one averages the sum."""
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before

    # ----------------------------------------------------------------- backward, through the hooks
    def _grad_ready(self, name: str, param: Any) -> None:
        if not self._sync_backward:
            return
        if not self._ready:                          # the first gradient of this backward
            self._started = time.perf_counter()
            self._next_launch = 0
            self.last_backward_events = []
            for bucket in self.buckets:
                bucket.pending = len(bucket.params)
        if id(param) in self._ready:
            raise RuntimeError(f"DistributedDataParallel: {name} received a gradient twice in one synchronised "
                               f"backward (call backward once per forward, or use no_sync())")
        self._ready.add(id(param))
        bucket = self._bucket_of[id(param)]
        bucket.buffer[bucket.slices[id(param)]] = param._grad_array().reshape(-1)
        bucket.pending -= 1
        self._note("grad ready", bucket.index, (name,))
        if bucket.pending == 0:
            self._note("bucket ready", bucket.index, bucket.names)
            self._launch_ready_buckets()
        if self._next_launch == len(self.buckets):
            self._finish()

    def _launch_ready_buckets(self) -> None:
        """Start each ready bucket in index order: a later bucket waits for an earlier one, as on every rank."""
        while self._next_launch < len(self.buckets) and self.buckets[self._next_launch].pending == 0:
            bucket = self.buckets[self._next_launch]
            bucket.request = comm.start_allreduce(bucket.buffer)
            self._note("allreduce launched", bucket.index, bucket.names)
            self._next_launch = self._next_launch + 1

    def _finish(self) -> None:
        """Wait for every bucket, then write each average into its parameter's `.grad`."""
        for bucket in self.buckets:
            bucket.request.Wait()
            bucket.request = None
            self._note("allreduce done", bucket.index, bucket.names)
            bucket.buffer /= self.world_size
            for param in bucket.params:
                grad = param._grad_array()
                grad[...] = bucket.buffer[bucket.slices[id(param)]].reshape(grad.shape)
        self._ready.clear()

    def _note(self, kind: str, bucket: int, names: tuple[str, ...]) -> None:
        self.last_backward_events.append(BucketEvent(time.perf_counter() - self._started, kind, bucket, names))

    # ----------------------------------------------------------------- seeing it
    def timeline(self) -> str:
        """The last synchronised backward as text: when each gradient, bucket and allreduce got ready."""
        if not self.last_backward_events:
            return "no synchronised backward yet"
        lines = [f"last backward: {len(self.buckets)} bucket(s) over {self.world_size} process(es)"]
        for event in self.last_backward_events:
            what = event.names[0] if event.kind == "grad ready" else f"bucket {event.bucket}"
            if event.kind == "bucket ready":
                what += f" ({len(event.names)} params, {self.buckets[event.bucket].nbytes:,} bytes)"
            lines.append(f"{1e3 * event.seconds:9.3f} ms  {event.kind:<18}  {what}")
        return "\n".join(lines)

    def draw_timeline(self):
        """The last synchronised backward as a drawing (a graphviz.Digraph, shown inline in Jupyter):
        one box per moment, left to right in the order the hooks saw them, so one sees which
        allreduce was launched while gradients of earlier layers were still being computed."""
        import graphviz

        colours = {"grad ready": "#eeeeee", "bucket ready": "#dbe8ff", "allreduce launched": "#ffe2c2",
                   "allreduce done": "#d9f2d9"}
        graph = graphviz.Digraph("ddp_timeline", graph_attr={"rankdir": "LR", "fontname": "Helvetica",
                                                            "label": self.timeline().splitlines()[0],
                                                            "labelloc": "t"},
                                 node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                                            "fontsize": "11"})
        last_gradient = max((i for i, e in enumerate(self.last_backward_events) if e.kind == "grad ready"),
                            default=-1)
        previous = None
        for i, event in enumerate(self.last_backward_events):
            what = event.names[0] if event.kind == "grad ready" else f"bucket {event.bucket}"
            during = " (backward still running)" if event.kind == "allreduce launched" and i < last_gradient else ""
            graph.node(f"e{i}", f"{1e3 * event.seconds:.3f} ms\n{event.kind}{during}\n{what}",
                       fillcolor=colours.get(event.kind, "#ffffff"))
            if previous is not None:
                graph.edge(previous, f"e{i}")
            previous = f"e{i}"
        return graph

    def extra_repr(self) -> str:
        return f"world_size={self.world_size}, buckets={len(self.buckets)}"
