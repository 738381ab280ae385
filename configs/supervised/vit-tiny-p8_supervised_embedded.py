# Supervised baseline of the tiny MIM rows: "Revealing the Dark Secrets of Masked Image Modeling"
# (Xie et al., arXiv 2205.13543) sets MIM against supervised pretraining of the same ViT. This is
# the tiny MAE's encoder (configs/mae/mae_vit-tiny-p8_embedded.py: mmpretrain's
# VisionTransformer, 96 px, patch 8 -> 12 x 12 grid, 4 blocks, 128-d, 4 heads; a learned
# position table where MAE's is fixed sin-cos) trained as an mmpretrain ImageClassifier
# (cls token + final norm + LinearClsHead) on the same embedded pretraining images with their
# image-level labels: data/pretrain/meta/train_labeled.txt (python tools/generate_data.py), the
# category of each scene's largest visible object, 6 classes. Validation: the labelled
# one-object images (data/classify/meta/val.txt). The export is an ordinary ViT checkpoint
# (method "supervised", pos_encoding "absolute_learned") that MAE's downstream configs, the
# linear probe and the fine-tuning of configs/linear_probe/ load:
#   python tools/train.py configs/supervised/vit-tiny-p8_supervised_embedded.py
#   python tools/export_backbone.py work_dirs/vit-tiny-p8_supervised_embedded/iter_2000.pth \
#       work_dirs/vit-tiny-p8_supervised_embedded/backbone.safetensors
_base_ = ['../_base_/datasets/embedded_classify.py', '../_base_/default_runtime.py']
default_scope = 'mmpretrain'

img_size, patch_size, embed_dims, num_classes = 96, 8, 128, 6
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=img_size,
        patch_size=patch_size,
        out_type='cls_token',
        final_norm=True,
        drop_path_rate=0.1,
        # DeiT's initialisation (mmpretrain deit configs)
        init_cfg=[
            dict(type='TruncNormal', layer='Linear', std=.02),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
        ]),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=embed_dims,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02)))

# Crops of 30-100 % of a 224 px scene: the label is the scene's largest object, which the MAE
# recipe's 10-33 % crops would often cut away; at 96 px the shapes appear at 0.43-0.8x their
# drawn size (the one-object validation images show them at about 1x).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.3, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root='data/pretrain', ann_file='meta/train_labeled.txt',
                 pipeline=train_pipeline))

# A few minutes on 2 CPU cores: 2000 iterations of batch 16 (32k crops, about 11 passes over the
# 3000 images); AdamW as the tiny MAE, no decay on norms, biases, position table, cls token.
max_iters = 2000
warmup_iters = 100
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'ln': dict(decay_mult=0.0),
        'bias': dict(decay_mult=0.0),
        'pos_embed': dict(decay_mult=0.),
        'cls_token': dict(decay_mult=0.)
    }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', T_max=max_iters - warmup_iters, eta_min=1e-5,
         by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
auto_scale_lr = dict(base_batch_size=16)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=50)
randomness = dict(seed=0, deterministic=True)
