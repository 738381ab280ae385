"""Multi-process training on machines without a GPU (gloo), for CI and laptops.

mmengine 0.10.7 assumes CUDA under ``--launcher pytorch``: its ``init_dist`` calls
``torch.cuda.set_device(local_rank)`` and its ``Runner.wrap_model`` passes
``device_ids=[local_rank]`` to DistributedDataParallel, both of which fail for CPU modules.
:func:`prepare_cpu_distributed` starts the gloo process group itself (mmengine then skips its
own initialisation) and sets a DDP wrapper config without device ids.
:func:`finish_distributed` ends and frees the process group before the interpreter exits (the
caller deletes its runner first): left to the interpreter's teardown, gloo's background threads
can be destroyed while still joinable and a rank aborts with "terminate called without an
active exception" (SIGABRT) after a successful run.
The process-group timeout comes from ``env_cfg.dist_cfg.timeout`` (seconds), as mmengine's
``init_dist`` takes it on GPUs; unset, torch's default (30 min for gloo) applies.
"""
import datetime
import gc
import os
import subprocess

import torch
import torch.distributed as dist
from mmengine.config import Config


def _torch_env_from_slurm() -> None:
    """Translate srun's variables into the ones ``init_process_group`` reads (as mmengine's
    Slurm launcher does for GPUs). The first host of the allocation is the rendezvous."""
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        hosts = subprocess.run(['scontrol', 'show', 'hostnames', os.environ['SLURM_NODELIST']],
                               capture_output=True, text=True, check=True).stdout.split()
        os.environ['MASTER_ADDR'] = hosts[0]


def prepare_cpu_distributed(cfg: Config) -> bool:
    """Configure ``cfg`` for a gloo run when launched distributed without CUDA.

    Returns True when it did so. Reads torchrun's environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``, ``MASTER_PORT``) or, with ``--launcher slurm``, srun's (``SLURM_PROCID``,
    ``SLURM_NTASKS``, ``SLURM_LOCALID``, ``SLURM_NODELIST``).
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    if cfg.launcher == 'slurm':
        _torch_env_from_slurm()
    elif cfg.launcher != 'pytorch':
        raise RuntimeError(f'--launcher {cfg.launcher} without a GPU is not supported; use '
                           'tools/dist_train.sh (torchrun) or tools/slurm_train.sh')
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        timeout = dist_cfg.get('timeout')
        extra = {} if timeout is None else dict(timeout=datetime.timedelta(seconds=timeout))
        dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                world_size=int(os.environ['WORLD_SIZE']), **extra)
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    else:
        cfg.model_wrapper_cfg.setdefault('device_ids', None)
    return True


def finish_distributed() -> None:
    """Wait for every rank, destroy the default process group and collect garbage (no-op when
    not distributed). Call it once a tool's work is done, after deleting its runner.

    ``destroy_process_group`` only forgets c10d's own references: DDP's reducer (inside the
    runner's model wrapper) still holds the gloo process group, whose worker threads would
    then be torn down with the interpreter and can abort the rank ("terminate called without
    an active exception") after a successful run, as seen once in CI. With the caller's
    runner deleted, collecting its reference cycles here frees the process group while the
    interpreter is fully alive.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        gc.collect()
