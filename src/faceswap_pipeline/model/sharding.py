"""Which faces each training process draws: one global batch per step, split between the DDP ranks.

Every rank draws the same random order of a person's faces (a seed shared by all ranks), cuts it
into global batches of `global_batch` faces, and takes its own contiguous part of each. So at every
step the ranks train on disjoint faces, and together on exactly the faces one process would draw
with the same global batch: with the loss a mean over the batch, DDP's averaged gradients equal the
single-process gradient up to floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


def per_rank_batch(global_batch: int, faces: int, world_size: int) -> int:
    """The faces one rank draws per step: `min(global_batch, faces)` split evenly over the
    ranks.

    Raises:
        ValueError: `global_batch` is not a multiple of `world_size` (the ranks would weigh
            their faces unequally), or there are fewer faces than ranks.
    """
    if global_batch % world_size:
        raise ValueError(
            f"batch size {global_batch} does not split evenly over {world_size} training "
            f"processes: set training.batch_size to a multiple of {world_size} (it is the batch of "
            "all processes together)"
        )
    usable = min(global_batch, faces) // world_size
    if usable < 1:
        raise ValueError(
            f"{faces} faces cannot feed {world_size} training processes: each needs at least one "
            "face per step; use fewer processes (training.trainer.devices) or more faces"
        )
    return usable


class ShardedRandomSampler(Sampler[int]):
    """This rank's part of every global batch of a random order of `faces` indices (training).

    Each pass draws a new order from `(seed, epoch, pass)`, the same on every rank; a pass
    yields `(faces // global) · per_rank` indices, `per_rank` per step, so every rank makes the
    same number of steps. Lightning calls `set_epoch` at each epoch start; passes count the
    restarts within an epoch (the smaller person's faces are cycled).

    Args:
        faces: how many faces the person has.
        global_batch: faces per step over all ranks (`training.batch_size`).
        rank, world_size: this process's global rank and the number of processes.
        seed: the training seed (`training.seed`).
    """

    def __init__(
        self, faces: int, global_batch: int, rank: int = 0, world_size: int = 1, seed: int = 0
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
        self.faces = faces
        self.per_rank = per_rank_batch(global_batch, faces, world_size)
        self.global_batch = self.per_rank * world_size
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        self._passes = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._passes = 0

    def __len__(self) -> int:
        return (self.faces // self.global_batch) * self.per_rank

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng([self.seed, self.epoch, self._passes]).permutation(self.faces)
        self._passes += 1
        steps = self.faces // self.global_batch
        batches = order[: steps * self.global_batch].reshape(steps, self.global_batch)
        mine = batches[:, self.rank * self.per_rank : (self.rank + 1) * self.per_rank]
        return iter(mine.reshape(-1).tolist())


class ShardedSequentialSampler(Sampler[int]):
    """This rank's share of `faces` indices in order (validation), as `DistributedSampler` does
    it.

    Rank r takes every world_size-th index from r; the list is first padded by repeating its
    start to a multiple of `world_size`, so every rank sees at least one face and all log the
    same metrics (a rank that logged nothing would leave the others waiting). The padding
    repeats at most `world_size - 1` faces, a negligible weight in the held-out means.
    """

    def __init__(self, faces: int, rank: int = 0, world_size: int = 1) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
        padded = -(-faces // world_size) * world_size
        self.indices = [i % faces for i in range(padded)][rank::world_size] if faces else []

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)
