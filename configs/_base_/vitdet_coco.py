# The paper ViTDet Mask R-CNN on COCO (Li et al., ECCV 2022; mmdet projects/ViTDet): ViT-B/16
# with the simple feature pyramid, large-scale jitter at 1024 px, 100 epochs (184,375 iterations
# of batch 64), and ViTDet's distributed runtime. Each pretraining method's paper detection config
# (configs/vitdet/<method>_maskrcnn_coco.py) inherits it and adds its position handling,
# checkpoint, data_root and GPU count (the three edits a user makes).
_base_ = [
    './models/vitdet_mask-rcnn_vit-b16.py',
    './datasets/coco_instance_lsj_1024.py',
    './schedules/vitdet_100e.py',
    './default_runtime_det.py',
]
default_scope = 'mmdet'

# ViTDet compresses DDP gradients to fp16 (detectron2's ddp_fp16_compress)
custom_hooks = [dict(type='RNGStateHook'), dict(type='Fp16CompressionHook')]
env_cfg = dict(dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, diff_rank_seed=True)
