"""Data-parallel training on several processes or machines, over MPI (the optional extra tinygraph[dist]).

    mpiexec -n 4 python train.py            # the same script on each of 4 processes

    from tinygraph import distributed as dist
    model = dist.DistributedDataParallel(model)         # gradients averaged over ranks during backward
    sampler = dist.DistributedSampler(dataset)          # each rank its own shard
    if dist.rank() == 0: print(...)                     # one rank speaks

comm.py holds the process group and its collectives (all_reduce, broadcast, barrier), ddp.py
the model wrapper and its gradient buckets, sampler.py the sampler. Nothing here imports mpi4py
until a function needs it.
"""
from tinygraph.distributed.comm import (DistributedUnavailableError, abort, all_reduce, barrier, broadcast,  # noqa: F401
                                        init, is_available, is_initialized, launched_world_size, rank, world_size)
from tinygraph.distributed.ddp import BucketEvent, DistributedDataParallel  # noqa: F401
from tinygraph.distributed.sampler import DistributedSampler  # noqa: F401
