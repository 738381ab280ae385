# The tiny ViTDet Mask R-CNN on the embedded COCO data, for a CPU: the tiny model, the embedded
# data, the tiny schedule and the detection runtime, with a CPU run's bookkeeping (a log line
# every 20 iterations, one checkpoint at the end). Each pretraining method's tiny detection
# config (configs/vitdet/<method>_maskrcnn_tiny_embedded.py) inherits it and adds its position
# handling and checkpoint.
_base_ = [
    './models/vitdet_mask-rcnn_vit-tiny-p8.py',
    './datasets/embedded_coco.py',
    './schedules/vitdet_tiny_1200it.py',
    './default_runtime_det.py',
]

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval={{_base_.max_iters}}, max_keep_ckpts=1))
log_processor = dict(window_size=20)
randomness = dict(seed=0)
