"""Running ``m3t-bench`` under ``torch.distributed.run`` for the DDP tests (gloo on CPU, one thread each)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def run_cli_distributed(args: list[str], *, nproc: int = 2, timeout: int = 240) -> subprocess.CompletedProcess:
    """``m3t-bench ARGS`` in ``nproc`` processes on a free local port; returns the finished process."""
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(port),
           "-m", "m3t_bench.cli", *args]
    return subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=timeout)
