"""Where a DDP node sits, from the variables torchrun, SLURM or the user set; mistakes named."""

from __future__ import annotations

import pytest

from faceswap_pipeline.distributed import node_layout

_LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "GROUP_RANK", "SLURM_NODEID",
                     "FACESWAP_DDP_JOB_PORT")


@pytest.fixture(autouse=True)
def _clean_launch_variables(monkeypatch):
    for name in _LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_one_machine_needs_no_variables_and_gets_two_free_local_ports():
    layout = node_layout(1)
    assert (layout.node_rank, layout.master_addr) == (0, "127.0.0.1")
    assert layout.master_port != layout.job_port and min(layout.master_port, layout.job_port) > 0


@pytest.mark.parametrize("variable", ["NODE_RANK", "GROUP_RANK", "SLURM_NODEID"])
def test_the_node_rank_comes_from_the_user_torchrun_or_slurm(monkeypatch, variable):
    monkeypatch.setenv("MASTER_ADDR", "node0")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv(variable, "2")
    layout = node_layout(3)
    assert (layout.node_rank, layout.master_addr, layout.master_port, layout.job_port) == (
        2, "node0", 29500, 29501
    )
    monkeypatch.setenv("FACESWAP_DDP_JOB_PORT", "31000")
    assert node_layout(3).job_port == 31000


def test_several_machines_without_the_main_address_are_refused_by_name():
    with pytest.raises(ValueError, match=r"num_nodes is 2: set MASTER_ADDR .* and MASTER_PORT"):
        node_layout(2)


def test_a_node_rank_beyond_num_nodes_is_refused(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "node0")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("SLURM_NODEID", "2")
    with pytest.raises(ValueError, match=r"node rank is 2 .* outside 0\.\.1 for training\.trainer\.num_nodes 2"):
        node_layout(2)


def test_ddp_outside_a_runs_on_every_rank_call_is_a_clear_error():
    from faceswap_pipeline.model.ddp import training_strategy

    assert training_strategy("auto", "cpu", 1, 1, seed=0) == "auto"
    with pytest.raises(RuntimeError, match="runs_on_every_rank"):
        training_strategy("ddp", "cpu", 2, 1, seed=0)
    with pytest.raises(ValueError, match="strategy 'fsdp' is not supported"):
        training_strategy("fsdp", "cpu", 2, 1, seed=0)
