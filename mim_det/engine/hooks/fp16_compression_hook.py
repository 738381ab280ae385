"""Fp16CompressionHook: all-reduce DDP gradients in float16 (ViTDet's ``ddp_fp16_compress``).

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ECCV 2022) train
with detectron2's ``train.ddp.fp16_compression=True``: gradients are cast to float16 (and divided
by the world size) before the all-reduce and cast back afterwards, halving the communication of a
ViT-B/L Mask R-CNN at the cost of fp16 rounding of each gradient. PyTorch ships the hook
(``torch.distributed.algorithms.ddp_comm_hooks.default_hooks.fp16_compress_hook``); this mmengine
hook registers it on the runner's DDP model.
"""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import fp16_compress_hook
from torch.nn.parallel import DistributedDataParallel


@HOOKS.register_module()
class Fp16CompressionHook(Hook):
    """Register :func:`fp16_compress_hook` on ``runner.model`` when it is a DDP model.

    Works with ``torch.nn.parallel.DistributedDataParallel`` and its subclasses (mmengine's
    ``MMDistributedDataParallel``, the default wrapper of ``launcher='pytorch'`` runs). Other
    wrappers (FSDP, DeepSpeed) and single-process runs are left as they are, with one log line.

    Nothing is stored in checkpoints; on ``--resume`` (a new process, a new DDP model) the hook
    registers again in ``before_train``, which the runner calls after loading the checkpoint.
    A model that already carries this hook (``runner.train()`` called twice) is left alone,
    because DDP accepts one communication hook per model.

    Priority ``'VERY_HIGH'``: registered before other ``before_train`` hooks run, and in any case
    before the first backward pass, as DDP requires.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model
        if not isinstance(model, DistributedDataParallel):
            runner.logger.info(
                f'Fp16CompressionHook: the model is {type(model).__name__}, not '
                f'DistributedDataParallel (single process or another wrapper); gradients are '
                f'not compressed.')
            return
        # DDP records its communication hooks only in this private list; a second registration
        # would raise inside the reducer.
        registered = [hook for hook, _ in getattr(model, '_comm_hooks', ())]
        if fp16_compress_hook in registered:
            runner.logger.info('Fp16CompressionHook: fp16 gradient compression already active.')
            return
        if registered:
            runner.logger.warning(
                f'Fp16CompressionHook: the DDP model already has a communication hook '
                f'({registered[0].__qualname__}); fp16 compression is not added.')
            return
        model.register_comm_hook(state=None, hook=fp16_compress_hook)
        runner.logger.info('Fp16CompressionHook: DDP gradients are all-reduced in float16.')
