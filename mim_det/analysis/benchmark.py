"""Timing and memory helpers shared by the benchmark tools (``tools/analysis/benchmark_*.py``).

Each case runs in its own subprocess (:func:`run_case_in_subprocess`), so one case's peak memory
cannot hide another's. Peak memory (:func:`time_steps`): on CUDA ``torch.cuda.max_memory_allocated``
(weights, gradients, activations); on CPU the process's peak resident set over the RSS before the
first step (activations, gradients and allocator caches of the warm-up and timed steps).
"""
import json
import os
import subprocess
import sys
import time
from typing import Callable, List, Tuple

RESULT_TAG = 'RESULT '


def rss_bytes() -> int:
    """Resident set size of this process now."""
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def time_steps(step: Callable[[], None], device, warmup: int,
               iters: int) -> Tuple[List[float], int]:
    """Run ``warmup`` untimed and ``iters`` timed calls of ``step``; (seconds of each timed
    call, peak memory in bytes as the module docstring defines it)."""
    import torch

    def sync():
        if device.type == 'cuda':
            torch.cuda.synchronize()

    base_rss = rss_bytes()  # weights, inputs, interpreter: before any activation exists
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() if device.type == 'cuda' else
            max(peak_rss_bytes() - base_rss, 0))
    return times, peak


def run_case_in_subprocess(script: str, case: dict) -> dict:
    """``python script --case JSON`` in a fresh process; its ``RESULT {json}`` line as a dict.

    Raises:
        RuntimeError: the case failed (with the end of its stderr).
    """
    proc = subprocess.run([sys.executable, os.path.abspath(script), '--case', json.dumps(case)],
                          capture_output=True, text=True)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode or not line:
        raise RuntimeError(f'case {case} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}')
    return json.loads(line[0][len(RESULT_TAG):])


def print_result(row: dict) -> None:
    """What a case subprocess prints for :func:`run_case_in_subprocess`."""
    print(RESULT_TAG + json.dumps(row), flush=True)
