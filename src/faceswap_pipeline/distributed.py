"""DDP ranks that run one function call, not the command line: Lightning DDP from inside a Kedro
node.

Lightning's own `ddp` launcher starts ranks 1..N-1 by running the command line again, so under
`kedro run` every rank would run the whole pipeline, open its own MLflow run and write every output.
Here the process that calls a `runs_on_every_rank` function is rank 0 (local rank 0 of its node);
when the Trainer starts, its strategy (`model.ddp.training_strategy`) starts the other local ranks
as plain Python processes (`run_rank`) that receive that same call from rank 0 and run only it.
Their return values are dropped: only rank 0's result reaches Kedro, so outputs and the MLflow run
are written once. Further machines run `python -m faceswap_pipeline.distributed` (see README),
which fetches the call from node 0 the same way and starts its own local ranks.

The call travels through a `torch.distributed.TCPStore` on node 0 (port `FACESWAP_DDP_JOB_PORT`,
default `MASTER_PORT + 1`), encoded without pickle (`rank_call_codec`: JSON, Parquet, functions
marked `transferable` only). Anyone who reaches the port can read and write there, so the call is
also signed (HMAC-SHA256) with a secret the ranks share, and a rank decodes only a call with a valid
signature: a random one handed to local ranks through their environment, or `FACESWAP_DDP_SECRET` on
every machine of a multi-machine job.
Light imports only: the training nodes import this module when Kedro loads the pipelines.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from faceswap_pipeline.errors import FaceswapError
from faceswap_pipeline.rank_call_codec import CallCodecError, decode_call, encode_call, transferable

logger = logging.getLogger(__name__)

WORKER_ENV = "FACESWAP_DDP_WORKER"  # set in the rank processes a node process starts
JOB_PORT_ENV = "FACESWAP_DDP_JOB_PORT"
SECRET_ENV = "FACESWAP_DDP_SECRET"  # noqa: S105 - the variable's name, not a secret
_JOB_KEY = "faceswap/rank_call"
# Other machines may be started by a queue long after node 0: wait for the call as long as
# torch.distributed waits for ranks (Lightning's default process-group timeout).
_JOB_TIMEOUT = timedelta(minutes=30)
_ENV_KEYS = (
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "OMP_NUM_THREADS",
)
_WORKER_COMMAND = "from faceswap_pipeline.distributed import run_rank; run_rank()"

F = TypeVar("F", bound=Callable[..., Any])


def _signed(payload: bytes, secret: str) -> bytes:
    """`payload` behind its HMAC-SHA256 under `secret` (32 bytes)."""
    return hmac.new(secret.encode(), payload, hashlib.sha256).digest() + payload


def _verified(message: bytes, secret: str) -> bytes:
    """The payload of a `_signed` message; ValueError when the signature does not match."""
    signature, payload = message[:32], message[32:]
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise ValueError("bad signature")
    return payload


class RankFailedError(RuntimeError):
    """A DDP rank process ended with an error; its own traceback is printed above this one."""


@dataclass(frozen=True)
class NodeLayout:
    """Where this process's node sits in a DDP job.

    Attributes:
        num_nodes: machines in the job (`training.trainer.num_nodes`).
        node_rank: this machine's index, 0 on the machine that runs `kedro run`.
        master_addr, master_port: node 0's address and the torch.distributed rendezvous port.
        job_port: the port on node 0 where the other ranks fetch the call.
    """

    num_nodes: int
    node_rank: int
    master_addr: str
    master_port: int
    job_port: int


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env_node_rank() -> int:
    """This machine's index: `NODE_RANK`, else torchrun's `GROUP_RANK`, else SLURM's
    `SLURM_NODEID`, else 0."""
    env = os.environ
    return int(env.get("NODE_RANK") or env.get("GROUP_RANK") or env.get("SLURM_NODEID") or 0)


def node_layout(num_nodes: int) -> NodeLayout:
    """This node's place, from the variables torchrun, SLURM or the user set.

    Node rank: `env_node_rank()`. One machine needs nothing set (a free port is chosen); several
    need `MASTER_ADDR` and `MASTER_PORT` on every machine.

    Raises:
        ValueError: several machines without `MASTER_ADDR`/`MASTER_PORT`, or a node rank out
            of range.
    """
    env = os.environ
    node_rank = env_node_rank()
    if num_nodes > 1 and not (env.get("MASTER_ADDR") and env.get("MASTER_PORT")):
        raise ValueError(
            f"training.trainer.num_nodes is {num_nodes}: set MASTER_ADDR (the address of the "
            "machine that runs `kedro run`) and MASTER_PORT on every machine, as torchrun does and "
            "as the README's SLURM script does"
        )
    if num_nodes > 1 and not env.get(SECRET_ENV):
        raise ValueError(
            f"training.trainer.num_nodes is {num_nodes}: set {SECRET_ENV} to the same random "
            "string on every machine (e.g. `openssl rand -hex 32`); the training call sent between "
            "the machines is signed with it"
        )
    if not 0 <= node_rank < num_nodes:
        raise ValueError(
            f"this machine's node rank is {node_rank} (NODE_RANK, GROUP_RANK or SLURM_NODEID), "
            f"outside 0..{num_nodes - 1} for training.trainer.num_nodes {num_nodes}"
        )
    master_port = int(env["MASTER_PORT"]) if env.get("MASTER_PORT") else _free_port()
    if env.get(JOB_PORT_ENV):
        job_port = int(env[JOB_PORT_ENV])
    else:
        job_port = master_port + 1 if env.get("MASTER_PORT") else _free_port()
    return NodeLayout(
        num_nodes=num_nodes,
        node_rank=node_rank,
        master_addr=env.get("MASTER_ADDR") or "127.0.0.1",
        master_port=master_port,
        job_port=job_port,
    )


def is_rank_process() -> bool:
    """True in a rank process that a node process started (local rank 1..N-1)."""
    return os.environ.get(WORKER_ENV) == "1"


class RankCall:
    """One `runs_on_every_rank` call on this node: what the other ranks run, and their processes."""

    def __init__(self, call: functools.partial) -> None:
        self.call = call
        self.procs: list[subprocess.Popen] = []
        self.launched = False
        self.failure: str | None = None
        self._store = None
        self._done = threading.Event()
        self._saved_env = {key: os.environ.get(key) for key in _ENV_KEYS}
        self._saved_threads: int | None = None

    def start_ranks(self, layout: NodeLayout, processes_per_node: int) -> None:
        """Publish the call (node 0) and start this node's local ranks 1..processes_per_node-1.

        Sets the variables torch.distributed reads in this process (rank 0 of the node), as
        Lightning's launcher does, and restores them in `close`.
        """
        import torch

        if self.launched:
            return
        self.launched = True
        self._saved_threads = torch.get_num_threads()
        world_size = processes_per_node * layout.num_nodes
        os.environ.update(
            MASTER_ADDR=layout.master_addr,
            MASTER_PORT=str(layout.master_port),
            NODE_RANK=str(layout.node_rank),
            LOCAL_RANK="0",
            WORLD_SIZE=str(world_size),
        )
        if world_size == 1:
            return
        # Several machines share the user's secret (node_layout insists); one machine makes its own.
        secret = os.environ.get(SECRET_ENV) or secrets.token_hex(32)
        if layout.node_rank == 0:
            try:
                payload = encode_call(self.call.func, self.call.args, self.call.keywords)
            except Exception as error:  # noqa: BLE001 - any encoding failure has the same remedy
                raise TypeError(
                    f"the arguments of {self.call.func.__qualname__} cannot be sent to the other "
                    f"DDP ranks ({type(error).__name__}: {error}); see rank_call_codec for what "
                    "can (lazy loaders must be functools.partial of a function marked transferable)"
                ) from error
            from torch.distributed import TCPStore

            self._store = TCPStore(
                layout.master_addr,
                layout.job_port,
                is_master=True,
                wait_for_workers=False,
                timeout=_JOB_TIMEOUT,
            )
            self._store.set(_JOB_KEY, _signed(payload, secret))
            logger.info(
                "DDP: %d processes on %d machine(s); rank 0 is this process, the call waits for "
                "the others on %s:%d",
                world_size,
                layout.num_nodes,
                layout.master_addr,
                layout.job_port,
            )
        for local_rank in range(1, processes_per_node):
            env = {
                **os.environ,
                "LOCAL_RANK": str(local_rank),
                WORKER_ENV: "1",
                JOB_PORT_ENV: str(layout.job_port),
                SECRET_ENV: secret,
            }
            # A fixed command: this interpreter, this module.
            command = [sys.executable, "-c", _WORKER_COMMAND]
            self.procs.append(subprocess.Popen(command, env=env))  # noqa: S603
        if self.procs:
            threading.Thread(target=self._watch, name="ddp-rank-watch", daemon=True).start()

    def _failed_rank(self) -> str | None:
        """A sentence naming the first rank process that ended with an error, or None."""
        for local_rank, proc in enumerate(self.procs, start=1):
            if proc.poll():
                return (
                    f"DDP rank process {proc.pid} (local rank {local_rank}) ended with exit code "
                    f"{proc.returncode}; its error, if it printed one, is above"
                )
        return None

    def failure_after_error(self, wait_s: float = 5.0) -> str | None:
        """When rank 0 failed: which rank process failed first, if one did (waits briefly, as a
        failing rank may still be printing its error when rank 0's collective gives up)."""
        deadline = time.monotonic() + wait_s
        while self.failure is None and self.procs:
            self.failure = self._failed_rank()
            if self.failure or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return self.failure

    def _watch(self) -> None:
        """Stop everything when a rank fails: the others would wait for it in their next
        collective."""
        while not self._done.wait(2.0):
            failure = self._failed_rank()
            if failure:
                self.failure = failure
                logger.error("%s; stopping the training", failure)
                self.stop_ranks()
                # gloo raises in rank 0 once a peer is gone; NCCL may wait for its timeout
                # instead, so rank 0 is killed, as Lightning's launcher does, if still stuck.
                if not self._done.wait(60.0):
                    os.kill(os.getpid(), signal.SIGKILL)
                return

    def wait_for_ranks(self, timeout_s: float = 300.0) -> None:
        """After rank 0 returned: the other ranks finish their last steps and exit; fail if
        one failed."""
        deadline = time.monotonic() + timeout_s
        for local_rank, proc in enumerate(self.procs, start=1):
            try:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stop_ranks()
                raise RankFailedError(
                    f"DDP rank process {proc.pid} (local rank {local_rank}) did not exit "
                    f"{timeout_s:.0f} s after rank 0 finished; it was stopped"
                ) from None
        failure = self._failed_rank()
        if failure:
            raise RankFailedError(failure)

    def stop_ranks(self) -> None:
        """Terminate this node's rank processes (killed after 10 s: one blocked in a collective
        does not run Python signal handlers)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10.0
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        """Leave this process as before the call: variables, thread count, no process group."""
        self._done.set()
        self._store = None
        if not self.launched:
            return
        import torch

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._saved_threads is not None:
            torch.set_num_threads(self._saved_threads)


_current_call: ContextVar[RankCall | None] = ContextVar("faceswap_rank_call", default=None)


def current_rank_call() -> RankCall | None:
    """The `runs_on_every_rank` call in progress, or None outside one."""
    return _current_call.get()


def runs_on_every_rank(function: F) -> F:
    """Mark a function that trains with `model.ddp.training_strategy`: under DDP every rank calls it
    with the same arguments; the caller's process is rank 0 and gets the only result that counts.

    The arguments must be what `rank_call_codec` sends, and cheap to send (lazy loaders, tables,
    parameters).
    """

    @functools.wraps(function)
    def on_every_rank(*args: Any, **kwargs: Any) -> Any:
        rank_call = RankCall(functools.partial(on_every_rank, *args, **kwargs))
        token = _current_call.set(rank_call)
        try:
            result = function(*args, **kwargs)
            rank_call.wait_for_ranks()
            return result
        except BaseException as error:
            # A user-fixable error of rank 0's own (e.g. a collapse every rank sees at the same
            # validation) is the message to show, even when the other ranks ended with it first.
            own = isinstance(error, (RankFailedError, FaceswapError))
            failure = None if own else rank_call.failure_after_error()
            rank_call.stop_ranks()
            if failure:
                raise RankFailedError(failure) from error
            raise
        finally:
            _current_call.reset(token)
            rank_call.close()

    return transferable(on_every_rank)  # type: ignore[return-value]


def run_rank() -> None:
    """A rank process: fetch the call from node 0 and run it; its result is dropped.

    Started by a node process for its local ranks 1..N-1 (`FACESWAP_DDP_WORKER=1`), or by hand on
    machines 1..num_nodes-1 of a multi-machine job, where it plays that machine's node process.
    """
    from torch.distributed import TCPStore

    logging.basicConfig(
        level=logging.WARNING,
        format=f"[rank process {os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    if not os.environ.get("MASTER_ADDR") or not os.environ.get("MASTER_PORT"):
        sys.exit(
            "set MASTER_ADDR and MASTER_PORT to those of the machine that runs `kedro run`, and "
            "NODE_RANK (or torchrun's GROUP_RANK, SLURM's SLURM_NODEID) to this machine's index"
        )
    if not is_rank_process() and env_node_rank() == 0:
        sys.exit(
            "this machine has node rank 0: node 0 runs `kedro run`, the other machines run "
            "`python -m faceswap_pipeline.distributed` with NODE_RANK 1, 2, ..."
        )
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        sys.exit(f"set {SECRET_ENV} to the value it has on the machine that runs `kedro run`")
    address = os.environ["MASTER_ADDR"]
    port = int(os.environ.get(JOB_PORT_ENV) or int(os.environ["MASTER_PORT"]) + 1)
    store = TCPStore(address, port, is_master=False, timeout=_JOB_TIMEOUT)
    try:
        payload = _verified(store.get(_JOB_KEY), secret)
    except ValueError:
        sys.exit(
            f"the training call served at {address}:{port} is not signed with this machine's "
            f"{SECRET_ENV}: set the same value on every machine; nothing was run"
        )
    del store
    try:
        call = decode_call(payload)
    except CallCodecError as error:
        sys.exit(f"the training call served at {address}:{port} cannot be run: {error}")
    call()


if __name__ == "__main__":
    # The module copy the call's imports use, not this __main__ copy, must hold the state.
    from faceswap_pipeline.distributed import run_rank as _run_rank

    _run_rank()
