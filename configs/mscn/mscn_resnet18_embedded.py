# Tiny Masked Siamese ConvNets pretraining on the embedded default images (python
# tools/generate_data.py), for a laptop CPU: the full MSCN recipe of
# mscn_resnet50_16xb256-lars-100e_in1k.py (every ladder step, two masked views) with a ResNet-18
# (BN instead of SyncBN) at 96 px, batch 16, and the pixel sizes scaled from 224 to 96 px: 12-px
# grid cells (32 px at 224: 7 x 7 cells there, 8 x 8 here) and a high-pass sigma of 2 px (5 px).
# The crops keep 10-33 % of a 224-px scene, as the other tiny pretraining configs
# (_base_/datasets/embedded_pretrain.py), so the shapes appear at their fine-tuning scale.
#   python tools/train.py configs/mscn/mscn_resnet18_embedded.py --work-dir work_dirs/mscn_tiny
_base_ = [
    '../_base_/models/mscn_simclr_resnet50.py',
    '../_base_/datasets/embedded_pretrain.py',
    '../_base_/schedules/mscn_lars_100e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmpretrain'

img_size = 96
model = dict(
    algorithm=dict(
        backbone=dict(depth=18, norm_cfg=dict(type='BN')),
        neck=dict(in_channels=512, hid_channels=512, out_channels=128)))


def _view(blur_prob, mask_prob):  # noqa: E302  (evaluated at load time, not kept)
    return [
        dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.1, 0.33),
             backend='pillow', interpolation='bicubic'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf',
             prob=blur_prob),
        dict(type='HighPassFilter', sigma=2.0),
        dict(type='SiameseMask', ratio=0.15, grid_size=12, focal_prob=0.2, channel_prob=0.7,
             fill='noise', prob=mask_prob),
    ]


view_pipeline_a = _view(blur_prob=1.0, mask_prob=0.5)
view_pipeline_b = _view(blur_prob=0.1, mask_prob=1.0)
del _view
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 2], transforms=[view_pipeline_a, view_pipeline_b]),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))

# The paper's LARS (momentum 0.9, weight decay 1e-6, none on BN and biases) at SimCLR's
# square-root lr scaling for small batches (0.075 x sqrt(16) = 0.3; SimCLR appendix B.1),
# 50 warm-up iterations then cosine.
max_iters = 1000
optim_wrapper = dict(optimizer=dict(lr=0.3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, by_epoch=False, begin=50,
         end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters)
auto_scale_lr = dict(base_batch_size=16)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=20)
randomness = dict(seed=0, deterministic=True)
