# Tiny TinyMIM on the embedded default images, for a laptop CPU and the main job's TinyMIM row:
# the main job's own tiny MAE export (4 blocks, 128-d, 4 heads, patch 8, 96 px, absolute position
# + cls token) is the frozen teacher, distilled into a smaller student (4 blocks, 96-d, 3 heads:
# 56% of the teacher's parameters) whose last block attends with the teacher's 4 heads; targets
# are the relations of the teacher's last block (same depth). The views: the embedded crop and flip
# of the other tiny rows, shared, with ColorJitter(0.4, 0.4, 0.4) on the student's copy.
#   bash tools/run_main.sh       # or: python tools/compare_methods.py --methods tinymim
#   python tools/train.py configs/tinymim/tinymim_vit-tiny-p8_mae-teacher_embedded.py \
#       --cfg-options model.target_generator.init_cfg.checkpoint=<tiny MAE export>
#   python tools/export_backbone.py work_dirs/tinymim_vit-tiny-p8_mae-teacher_embedded/iter_4000.pth tinymim.safetensors
_base_ = ['../_base_/datasets/embedded_pretrain.py', '../_base_/default_runtime.py']
default_scope = 'mmpretrain'

img_size, patch_size = 96, 8
teacher_checkpoint = 'work_dirs/main/mae/seed0/pretrain/backbone.safetensors'
model = dict(
    type='TinyMIM',
    backbone=dict(
        type='TinyMIMViT',
        arch=dict(embed_dims=96, num_layers=4, num_heads=3, feedforward_channels=384),
        img_size=img_size, patch_size=patch_size, last_heads=4, drop_path_rate=0.),
    target_generator=dict(
        type='PlainViT',
        arch=dict(embed_dims=128, num_layers=4, num_heads=4, feedforward_channels=512),
        img_size=img_size, pretrain_img_size=img_size, patch_size=patch_size,
        with_cls_token=True, use_abs_pos=True, window_size=0, global_attn_indexes=(),
        drop_path_rate=0., init_cfg=dict(type='Pretrained', checkpoint=teacher_checkpoint)),
    teacher_block=-1,
    target='relation',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))
find_unused_parameters = True

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.1, 0.33),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[[], [dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                saturation=0.4)]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# the tiny MAE row's optimiser and schedule shape (AdamW (0.9, 0.95), wd 0.05, lr 1e-3 for batch
# 16, 40 warm-up iterations, cosine); TinyMIM's 1.5e-4 x batch / 256 is too small for a few
# thousand steps of a tiny model
max_iters = 4000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={'cls_token': dict(decay_mult=0.), 'pos_embed': dict(decay_mult=0.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', T_max=max_iters - 40, eta_min=1e-5, by_epoch=False,
         begin=40, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
auto_scale_lr = dict(base_batch_size=16)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=50)
randomness = dict(seed=0, deterministic=True)
