# Tiny Mask R-CNN R-18-FPN on the embedded COCO data (python tools/generate_data.py), for a CPU:
# fine-tunes the tiny MSCN ResNet-18 (configs/mscn/mscn_resnet18_embedded.py) with the parts of
# mscn_mask-rcnn_r50_fpn_syncbn-1x_coco.py scaled down -- BN instead of SyncBN (one process),
# 64-channel FPN and heads, the 4 conv + 1 fc box head -- on the tiny ViTDet's data pipeline
# (256 px, mild scale jitter) and schedule length. AdamW at 1e-3 (the from-scratch R-18
# baseline, configs/baselines/, found SGD 0.02 far slower for a few hundred steps).
# Without a checkpoint (model.backbone.init_cfg=None) it is MSCN's from-scratch twin in the
# comparison table (tools/compare_methods.py).
#   python tools/export_backbone.py work_dirs/mscn_tiny/iter_1000.pth work_dirs/mscn_tiny/backbone.safetensors
#   python tools/train.py configs/mask_rcnn/mscn_mask-rcnn_r18_fpn_tiny_embedded.py
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/embedded_coco.py',
    '../_base_/default_runtime_det.py',
]
default_scope = 'mmdet'

pretrained = 'work_dirs/mscn_tiny/backbone.safetensors'
norm_cfg = dict(type='BN', requires_grad=True)
channels = 64
model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=(256, 256), pad_mask=True)]),
    backbone=dict(depth=18, frozen_stages=-1, norm_cfg=norm_cfg, norm_eval=False,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=channels, norm_cfg=norm_cfg),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', in_channels=channels,
                       conv_out_channels=channels, fc_out_channels=256, norm_cfg=norm_cfg,
                       num_classes=6),  # the embedded categories
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels, norm_cfg=norm_cfg,
                       num_classes=6)),
    # fewer proposals and sampled RoIs (the scenes hold fewer than 10 objects), as the tiny ViTDet
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

max_iters = 1200
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.85)], gamma=0.1),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
log_processor = dict(window_size=20)
randomness = dict(seed=0, deterministic=True)
