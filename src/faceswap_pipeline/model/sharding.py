"""Which faces each training process draws: one global batch per step, split between the DDP ranks.

Every rank draws the same random order of a person's faces (a generator seeded alike on all ranks,
on the host, so it does not depend on where each rank keeps its face banks), cuts it into global
batches of `global_batch` faces, and takes its own contiguous part of each. So at every step the
ranks train on disjoint faces, and together on exactly the faces one process would draw with the
same global batch: with the loss a mean over the batch, DDP's averaged gradients equal the
single-process gradient up to floating-point rounding.

Every random draw of training comes from its own stream, seeded by the run's seed and what the
draw is for (`stream_seed`): a person's order in pass k, a rank's augmentation at step n. None is
drawn in sequence from a shared generator, so what a step trains on depends on the seed and the
step alone: a run resumed from a checkpoint draws what the uninterrupted run would have drawn (not
its first steps again), however it was cut into runs and whatever else (validation, previews)
ran between its steps.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# What a stream is for: the first key after the seed in `stream_seed`.
FACE_ORDER_STREAM = 0
AUGMENTATION_STREAM = 1


def stream_seed(seed: int, *keys: int) -> int:
    """The seed of one random stream of a run: a hash of the run's `seed` and `keys` (e.g.
    `FACE_ORDER_STREAM, person, pass` or `AUGMENTATION_STREAM, rank, step`), well mixed
    (numpy's `SeedSequence`), so neighbouring keys give unrelated streams. Non-negative, < 2**63.
    """
    # SeedSequence takes non-negative entropy only; a negative seed maps to its own value.
    entropy = [seed % 2**64, *keys]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> np.uint64(1))


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


class ShardedOrder:
    """This rank's part of every global batch of a random order of one person's rows (training).

    Endless: pass k visits `rows` in a random order drawn from the stream `(seed,
    FACE_ORDER_STREAM, stream, k)` and makes `len(rows) // global_batch` steps of it, the last
    incomplete global batch left out (a shuffled loader with `drop_last`). Every rank gets the same
    `seed`, `stream` and `start_step`, so all cut the same orders.

    Args:
        rows: int64 `(M,)` the bank rows to train on (host).
        global_batch: faces per step over all ranks (`training.batch_size`).
        rank, world_size: this process's global rank and the number of processes.
        seed: the training seed (not seed + rank).
        stream: which person's order this is (each person's orders differ).
        device: where the returned rows go (the face bank's device).
        start_step: the optimizer step the first `next` is for (a resumed run's step): the order
            starts where an uninterrupted run's would be at that step.
    """

    def __init__(
        self,
        rows: Tensor,
        global_batch: int,
        rank: int,
        world_size: int,
        seed: int,
        stream: int = 0,
        device: torch.device | str = "cpu",
        start_step: int = 0,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
        self.rows = rows.cpu()
        self.per_rank = per_rank_batch(global_batch, len(rows), world_size)
        self.global_batch = self.per_rank * world_size
        self.rank = rank
        self.seed, self.stream = seed, stream
        self.device = torch.device(device)
        self._pass, step_in_pass = divmod(start_step, len(self.rows) // self.global_batch)
        self._order = self._pass_order(self._pass)
        self._position = step_in_pass * self.global_batch

    def _pass_order(self, index: int) -> Tensor:
        generator = torch.Generator().manual_seed(
            stream_seed(self.seed, FACE_ORDER_STREAM, self.stream, index)
        )
        shuffle = torch.randperm(len(self.rows), generator=generator)
        # One copy per pass, not per step: the device gathers without waiting on the host.
        return self.rows[shuffle].to(self.device)

    def next(self) -> Tensor:
        """This rank's rows of the next global batch, int64 `(per_rank,)` on `device`."""
        if self._position + self.global_batch > len(self._order):
            self._pass += 1
            self._order, self._position = self._pass_order(self._pass), 0
        start = self._position + self.rank * self.per_rank
        self._position += self.global_batch
        return self._order[start : start + self.per_rank]


def validation_share(rows: Tensor, rank: int = 0, world_size: int = 1) -> Tensor:
    """This rank's share of the held-out `rows` in order, as `DistributedSampler` does it.

    Rank r takes every world_size-th row from r; the rows are first padded by repeating their
    start to a multiple of `world_size`, so every rank sees at least one face and all log the
    same metrics (a rank that logged nothing would leave the others waiting). The padding
    repeats at most `world_size - 1` faces, a negligible weight in the held-out means.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    if not len(rows):
        return rows
    padded = -(-len(rows) // world_size) * world_size
    return rows[torch.arange(padded, device=rows.device) % len(rows)][rank::world_size]
