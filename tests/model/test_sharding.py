"""Which faces each DDP rank draws: disjoint shares of the very global batches one process would
draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceswap_pipeline.model.data import ResidentTrainBatches
from faceswap_pipeline.model.sharding import (
    ShardedOrder,
    per_rank_batch,
    stream_seed,
    validation_share,
)


def _order(
    faces: int, batch: int, rank: int = 0, world_size: int = 1, seed: int = 0, start_step: int = 0
) -> ShardedOrder:
    return ShardedOrder(torch.arange(faces), batch, rank, world_size, seed, start_step=start_step)


def _steps(order: ShardedOrder, steps: int) -> np.ndarray:
    """The order's next `steps` steps as `(steps, per_rank)` rows."""
    return torch.stack([order.next() for _ in range(steps)]).numpy()


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_split_every_global_batch_of_the_single_process_order(world_size):
    faces, batch, steps = 37, 8, 3 * (37 // 8)  # three passes
    single = _steps(_order(faces, batch, seed=42), steps)
    ranks = [_steps(_order(faces, batch, r, world_size, seed=42), steps) for r in range(world_size)]
    assert single.shape == (steps, batch)
    assert all(r.shape == (steps, batch // world_size) for r in ranks)
    together = np.concatenate(ranks, axis=1)
    np.testing.assert_array_equal(together, single)
    for step in together:
        assert len(set(step.tolist())) == batch  # no face twice in one step


def test_every_pass_draws_a_new_order_the_same_on_every_rank():
    order, twin = _order(40, 8, 1, 2, seed=3), _order(40, 8, 1, 2, seed=3)
    first, second = _steps(order, 5), _steps(order, 5)  # 40 // 8 = 5 steps a pass
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(_steps(twin, 5), first)
    np.testing.assert_array_equal(_steps(twin, 5), second)
    assert not np.array_equal(_steps(_order(40, 8, 1, 2, seed=4), 5), first)


def test_an_order_started_at_a_step_goes_on_as_the_uninterrupted_one():
    # 37 faces, 8 a step: 4 steps a pass; a resumed run starts mid-pass and passes later.
    whole = _steps(_order(37, 8, seed=5), 11)
    for start in (1, 4, 6):
        np.testing.assert_array_equal(
            _steps(_order(37, 8, seed=5, start_step=start), 11 - start), whole[start:]
        )
    # Each rank's part too.
    np.testing.assert_array_equal(
        _steps(_order(37, 8, 1, 2, seed=5, start_step=6), 5), whole[6:, 4:]
    )


def test_streams_differ_by_every_key_and_repeat_for_the_same_keys():
    seeds = {
        stream_seed(seed, *keys)
        for seed in (0, 1, -1)
        for keys in [(0, 0, 0), (0, 1, 0), (1, 0, 0), (0, 0, 1)]
    }
    assert len(seeds) == 12
    assert stream_seed(42, 1, 0, 7) == stream_seed(42, 1, 0, 7)
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_fewer_faces_than_the_batch_share_them_evenly():
    assert per_rank_batch(64, 10, 2) == 5
    assert per_rank_batch(64, 11, 2) == 5
    assert _order(11, 64, 1, 2).global_batch == 10


@pytest.mark.parametrize(
    ("batch", "faces", "world_size", "message"),
    [
        (9, 100, 2, r"batch size 9 does not split evenly over 2 .*training\.batch_size"),
        (8, 1, 2, r"1 faces cannot feed 2 training processes"),
    ],
)
def test_a_batch_that_cannot_be_shared_is_refused(batch, faces, world_size, message):
    with pytest.raises(ValueError, match=message):
        _order(faces, batch, 0, world_size)


def test_validation_shares_cover_every_face_and_are_equal_in_length():
    rows = torch.arange(10, 17)
    shares = [validation_share(rows, r, 3).tolist() for r in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]
    assert sorted(set(sum(shares, []))) == list(range(10, 17))
    assert validation_share(rows).tolist() == list(range(10, 17))
    assert [validation_share(torch.tensor([5]), r, 2).tolist() for r in range(2)] == [[5], [5]]


def test_resident_batches_of_two_ranks_are_the_single_process_batches():
    # Two people of different sizes (the smaller cycles): both ranks together gather exactly the
    # faces one process gathers, step by step.
    sizes = {"a": 30, "b": 13}
    banks = {p: torch.arange(n, dtype=torch.uint8)[:, None, None, None] for p, n in sizes.items()}
    rows = {p: torch.arange(n) for p, n in sizes.items()}

    def batches(rank: int, world_size: int) -> list[dict[str, torch.Tensor]]:
        resident = ResidentTrainBatches(banks, rows, 8, seed=7, rank=rank, world_size=world_size)
        return [batch for batch, _ in zip(resident, range(10), strict=False)]

    single, ranks = batches(0, 1), [batches(r, 2) for r in range(2)]
    for step, batch in enumerate(single):
        for person in ("a", "b"):
            assert batch[person].shape == (8, 1, 1, 1)
            together = torch.cat([ranks[r][step][person] for r in range(2)])
            assert torch.equal(together, batch[person])
    # Started at a resumed run's step: the uninterrupted run's batches from there.
    resumed = ResidentTrainBatches(banks, rows, 8, seed=7, start_step=4)
    for batch, again in zip(single[4:], resumed, strict=False):
        assert all(torch.equal(batch[person], again[person]) for person in ("a", "b"))
