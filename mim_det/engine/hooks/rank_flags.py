"""One boolean agreed by every rank, so that all ranks take the same branch before the next
collective (a rank that branches alone hangs the others in DDP's all-reduce)."""
from typing import List, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.dist import is_distributed


def _reduce_flag(flag: bool, op) -> bool:
    if not is_distributed():
        return flag
    value = torch.tensor([1.0 if flag else 0.0])
    if torch_dist.get_backend() == 'nccl':
        value = value.cuda()
    torch_dist.all_reduce(value, op=op)
    return bool(value.item() > 0)


def local_and_global_min(flags: torch.Tensor) -> Tuple[List[bool], List[bool]]:
    """``flags`` (K,) bool tensor on the model's device: (this rank's values, their MIN over
    ranks), read back with one device-to-host copy, so the caller waits for the device once."""
    local = flags.float()
    if is_distributed():
        reduced = local.clone()
        if torch_dist.get_backend() == 'nccl' and not reduced.is_cuda:
            reduced = reduced.cuda()
        torch_dist.all_reduce(reduced, op=torch_dist.ReduceOp.MIN)
        both = torch.cat([local.to(reduced.device), reduced]).tolist()
    else:
        both = local.tolist() * 2
    k = local.numel()
    return [v > 0 for v in both[:k]], [v > 0 for v in both[k:]]


def all_ranks_agree(flag: bool) -> bool:
    """True only if ``flag`` is true on every rank (MIN all-reduce of one number)."""
    return _reduce_flag(flag, torch_dist.ReduceOp.MIN)


def any_rank_flagged(flag: bool) -> bool:
    """True if ``flag`` is true on at least one rank (MAX all-reduce of one number)."""
    return _reduce_flag(flag, torch_dist.ReduceOp.MAX)
