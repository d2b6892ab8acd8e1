"""Where a DDP node sits, from the variables torchrun, SLURM or the user set; mistakes named; a rank
process runs only a call signed with the job's secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys

import pytest

from faceswap_pipeline.distributed import node_layout
from tests.helpers.local_servers import free_port

_LAUNCH_VARIABLES = (
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_RANK",
    "GROUP_RANK",
    "SLURM_NODEID",
    "FACESWAP_DDP_JOB_PORT",
    "FACESWAP_DDP_SECRET",
)


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
    monkeypatch.setenv("FACESWAP_DDP_SECRET", "s3cret")
    monkeypatch.setenv("MASTER_ADDR", "node0")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv(variable, "2")
    layout = node_layout(3)
    assert (layout.node_rank, layout.master_addr, layout.master_port, layout.job_port) == (
        2,
        "node0",
        29500,
        29501,
    )
    monkeypatch.setenv("FACESWAP_DDP_JOB_PORT", "31000")
    assert node_layout(3).job_port == 31000


def test_several_machines_without_the_main_address_are_refused_by_name():
    with pytest.raises(ValueError, match=r"num_nodes is 2: set MASTER_ADDR .* and MASTER_PORT"):
        node_layout(2)


def test_several_machines_without_a_shared_secret_are_refused_by_name(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "node0")
    monkeypatch.setenv("MASTER_PORT", "29500")
    with pytest.raises(ValueError, match=r"set FACESWAP_DDP_SECRET to the same random string"):
        node_layout(2)


def test_a_node_rank_beyond_num_nodes_is_refused(monkeypatch):
    monkeypatch.setenv("FACESWAP_DDP_SECRET", "s3cret")
    monkeypatch.setenv("MASTER_ADDR", "node0")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("SLURM_NODEID", "2")
    with pytest.raises(
        ValueError, match=r"node rank is 2 .* outside 0\.\.1 for training\.trainer\.num_nodes 2"
    ):
        node_layout(2)


def test_ddp_outside_a_runs_on_every_rank_call_is_a_clear_error():
    from faceswap_pipeline.model.ddp import training_strategy

    assert training_strategy("auto", "cpu", 1, 1) == "auto"
    with pytest.raises(RuntimeError, match="runs_on_every_rank"):
        training_strategy("ddp", "cpu", 2, 1)
    with pytest.raises(ValueError, match="strategy 'fsdp' is not supported"):
        training_strategy("fsdp", "cpu", 2, 1)


@pytest.mark.parametrize(
    ("signed_with", "message"),
    [
        ("another secret", "is not signed with this machine's FACESWAP_DDP_SECRET"),
        (None, "is not signed with this machine's FACESWAP_DDP_SECRET"),
        ("the job's", "cannot be run: 'os:system' is not a function of this project"),
    ],
)
def test_a_rank_process_runs_only_a_signed_call_of_a_marked_function(
    tmp_path, signed_with, message
):
    """Anyone who reaches node 0's port can write there: a forged call is refused and never run."""
    from torch.distributed import TCPStore

    ran = tmp_path / "the forged call ran"
    forged = json.dumps(
        {"function": "os:system", "args": {"tuple": [f"touch '{ran}'"]}, "kwargs": {"dict": []}}
    ).encode()
    if signed_with:
        # The wire format an attacker who knows the secret would write: HMAC-SHA256, then the call.
        forged = hmac.new(signed_with.encode(), forged, hashlib.sha256).digest() + forged
    port = free_port()
    store = TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False)
    store.set("faceswap/rank_call", forged)  # the key node 0 publishes the call under
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port - 1),
        "FACESWAP_DDP_JOB_PORT": str(port),
        "NODE_RANK": "1",
        "FACESWAP_DDP_SECRET": "the job's",
    }
    result = subprocess.run(
        [sys.executable, "-m", "faceswap_pipeline.distributed"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert not ran.exists()
