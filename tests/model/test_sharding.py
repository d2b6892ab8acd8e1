"""Which faces each DDP rank draws: disjoint shares of the very global batches one process would
draw."""

from __future__ import annotations

import numpy as np
import pytest

from faceswap_pipeline.model.sharding import (
    ShardedRandomSampler,
    ShardedSequentialSampler,
    per_rank_batch,
)


def _steps(sampler: ShardedRandomSampler) -> np.ndarray:
    """The sampler's next pass as `(steps, per_rank)` indices."""
    return np.array(list(sampler)).reshape(-1, sampler.per_rank)


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_split_every_global_batch_of_the_single_process_order(world_size):
    faces, batch = 37, 8
    single = _steps(ShardedRandomSampler(faces, batch, 0, 1, seed=42))
    ranks = [_steps(ShardedRandomSampler(faces, batch, r, world_size, seed=42)) for r in range(world_size)]
    assert single.shape == (faces // batch, batch)
    assert all(r.shape == (faces // batch, batch // world_size) for r in ranks)  # same step count
    together = np.concatenate(ranks, axis=1)
    np.testing.assert_array_equal(together, single)
    for step in together:
        assert len(set(step.tolist())) == batch  # no face twice in one step


def test_every_pass_and_epoch_draws_a_new_order_the_same_on_every_rank():
    sampler = ShardedRandomSampler(40, 8, 1, 2, seed=3)
    twin = ShardedRandomSampler(40, 8, 1, 2, seed=3)
    first, second = list(sampler), list(sampler)  # the smaller person's faces are cycled: two passes
    assert first != second and list(twin) == first and list(twin) == second
    sampler.set_epoch(1)
    assert list(sampler) not in (first, second)
    assert list(ShardedRandomSampler(40, 8, 1, 2, seed=4)) != first


def test_fewer_faces_than_the_batch_share_them_evenly():
    assert per_rank_batch(64, 10, 2) == 5
    assert per_rank_batch(64, 11, 2) == 5
    assert ShardedRandomSampler(11, 64, 1, 2).global_batch == 10


@pytest.mark.parametrize(
    ("batch", "faces", "world_size", "message"),
    [
        (9, 100, 2, r"batch size 9 does not split evenly over 2 .*training\.batch_size"),
        (8, 1, 2, r"1 faces cannot feed 2 training processes"),
    ],
)
def test_a_batch_that_cannot_be_shared_is_refused(batch, faces, world_size, message):
    with pytest.raises(ValueError, match=message):
        ShardedRandomSampler(faces, batch, 0, world_size)


def test_validation_shares_cover_every_face_and_are_equal_in_length():
    shares = [list(ShardedSequentialSampler(7, r, 3)) for r in range(3)]
    assert [len(s) for s in shares] == [3, 3, 3]
    assert sorted(set(sum(shares, []))) == list(range(7))
    assert list(ShardedSequentialSampler(7)) == list(range(7))
    assert [list(ShardedSequentialSampler(1, r, 2)) for r in range(2)] == [[0], [0]]
