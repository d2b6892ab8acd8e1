"""The Trainer's strategy: unchanged for one process; for several, Lightning DDP whose ranks run
only the current `runs_on_every_rank` call (see `faceswap_pipeline.distributed`), never the command
line again.
"""

from __future__ import annotations

import os
from typing import Any

from lightning.fabric.plugins.environments import LightningEnvironment
from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator
from lightning.pytorch.strategies import DDPStrategy, Strategy
from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

from faceswap_pipeline.distributed import (
    NodeLayout,
    RankCall,
    current_rank_call,
    is_rank_process,
    node_layout,
)
from faceswap_pipeline.model.settings import TrainingSettings

STRATEGIES = ("auto", "ddp")


def local_process_count(accelerator: str, devices: int | str | list[int]) -> int:
    """How many training processes Lightning would run on this machine for `accelerator`/`devices`.

    Args:
        accelerator: "auto", "cpu", "gpu" or "cuda" (others count as one process).
        devices: as for `lightning.Trainer` (a count, -1, "auto", or a list of device ids).
    """
    kind = accelerator
    if kind == "auto":
        kind = "cuda" if CUDAAccelerator.is_available() else "cpu"
    classes = {"cpu": CPUAccelerator, "gpu": CUDAAccelerator, "cuda": CUDAAccelerator}
    accelerator_class = classes.get(kind)
    if accelerator_class is None:
        return 1
    if devices == "auto":
        return accelerator_class.auto_device_count()
    return len(accelerator_class.get_parallel_devices(accelerator_class.parse_devices(devices)))


def training_strategy(
    strategy: str,
    accelerator: str,
    devices: int | str | list[int],
    num_nodes: int,
    find_unused_parameters: bool = False,
) -> str | Strategy:
    """The `strategy` for `lightning.Trainer`: `strategy` itself for one process, else DDP from
    here.

    "auto" with several processes is DDP too (Lightning's own choice would re-run the command
    line). Must be called inside a `runs_on_every_rank` function when it may be DDP.

    Args:
        strategy: "auto" or "ddp" (`training.trainer.strategy`).
        accelerator, devices, num_nodes: as given to the Trainer.
        find_unused_parameters: DDP's own flag: True when some trainable weights get no gradient
            (the pretraining's second decoder); it costs a pass over the graph every step.

    Raises:
        ValueError: another strategy name (its launcher would re-run `kedro run` on every
            rank).
    """
    if strategy not in STRATEGIES:
        raise ValueError(
            f"training.trainer.strategy {strategy!r} is not supported: use 'auto' or 'ddp' (other "
            "Lightning strategies start their ranks by re-running the whole `kedro run`)"
        )
    processes = local_process_count(accelerator, devices)
    if strategy == "auto" and processes * num_nodes == 1:
        return strategy
    rank_call = current_rank_call()
    if rank_call is None:
        raise RuntimeError(
            "DDP training must run inside a function decorated with "
            "faceswap_pipeline.distributed.runs_on_every_rank"
        )
    return _NodeDDPStrategy(rank_call, node_layout(num_nodes), find_unused_parameters)


def strategy_of(settings: TrainingSettings, find_unused_parameters: bool = False) -> str | Strategy:
    """`training_strategy` for a run's settings (`trainer.*`): DDP started from the
    current `runs_on_every_rank` call for several processes, else the strategy's name."""
    hardware = settings.trainer
    return training_strategy(
        hardware.strategy,
        hardware.accelerator,
        hardware.devices,
        hardware.num_nodes,
        find_unused_parameters,
    )


class _NodeEnvironment(LightningEnvironment):
    """Lightning's plain environment, with the node's place taken from `NodeLayout` (so that
    torchrun's or SLURM's own variables, describing one process per machine, are not read as
    ranks)."""

    def __init__(self, layout: NodeLayout) -> None:
        super().__init__()
        self.layout = layout

    @property
    def creates_processes_externally(self) -> bool:
        return is_rank_process()

    @property
    def main_address(self) -> str:
        return self.layout.master_addr

    @property
    def main_port(self) -> int:
        return self.layout.master_port

    def node_rank(self) -> int:
        return self.layout.node_rank

    def local_rank(self) -> int:
        return int(os.environ.get("LOCAL_RANK", "0")) if is_rank_process() else 0


class _NodeLauncher(_SubprocessScriptLauncher):
    """Starts this node's other ranks as `run_rank` processes running the current call (once;
    later Trainer calls such as `validate` reuse them), then runs `function` as this node's
    local rank 0."""

    def __init__(
        self, environment: _NodeEnvironment, num_processes: int, num_nodes: int, rank_call: RankCall
    ) -> None:
        super().__init__(environment, num_processes, num_nodes)
        self.rank_call = rank_call

    @property
    def is_interactive_compatible(self) -> bool:
        # Nothing re-runs the command line, so a notebook can train on several devices too.
        return True

    def launch(self, function: Any, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        if not self.cluster_environment.creates_processes_externally:
            self.rank_call.start_ranks(self.cluster_environment.layout, self.num_processes)
            self.procs = self.rank_call.procs
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)


class _NodeDDPStrategy(DDPStrategy):
    """`DDPStrategy` with `_NodeLauncher`. Each rank's augmentation has its own stream (seeded by
    the rank, `model.sharding.stream_seed`): nothing reseeds torch per rank."""

    def __init__(
        self, rank_call: RankCall, layout: NodeLayout, find_unused_parameters: bool
    ) -> None:
        super().__init__(
            cluster_environment=_NodeEnvironment(layout),
            start_method="popen",
            find_unused_parameters=find_unused_parameters,
        )
        self._rank_call = rank_call

    def _configure_launcher(self) -> None:
        self._launcher = _NodeLauncher(
            self.cluster_environment, self.num_processes, self.num_nodes, self._rank_call
        )
