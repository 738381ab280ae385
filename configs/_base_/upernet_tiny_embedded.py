# The tiny UperNet on the embedded ADE20k data, for a CPU: the tiny model, the embedded data, the
# tiny schedule and the segmentation runtime, with a CPU run's bookkeeping (a log line every 20
# iterations, one checkpoint at the end, deterministic kernels). Each pretraining method's tiny
# segmentation config (configs/upernet/<method>_upernet_tiny_embedded.py) inherits it and adds
# its position handling and checkpoint.
_base_ = [
    './models/upernet_plain-vit-tiny-p8.py',
    './datasets/embedded_ade.py',
    './schedules/upernet_tiny_800it.py',
    './default_runtime_seg.py',
]

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval={{_base_.max_iters}}, max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False)
log_processor = dict(window_size=20)
randomness = dict(seed=0, deterministic=True)
