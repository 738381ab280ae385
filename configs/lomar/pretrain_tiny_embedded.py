# Tiny LoMaR pretraining on the embedded default images (python tools/generate_data.py), for a
# laptop CPU: 96 px images, patch 8 (12 x 12 grid), 1 window of 7 x 7 with 39 masked patches, a
# 4-layer 128-d encoder with the contextual RPE. Same code path as the paper config.
#   python tools/train.py configs/lomar/pretrain_tiny_embedded.py
#   python tools/export_backbone.py work_dirs/pretrain_tiny_embedded/iter_8000.pth \
#       work_dirs/pretrain_tiny_embedded/backbone.safetensors
_base_ = [
    '../_base_/models/lomar_vit-base-p16.py', '../_base_/datasets/embedded_pretrain.py',
    '../_base_/default_runtime.py'
]
default_scope = 'mmpretrain'

img_size, patch_size, embed_dims = 96, 8, 128
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=512),
        img_size=img_size,
        patch_size=patch_size),
    head=dict(embed_dims=embed_dims, patch_size=patch_size),
    # The paper's 4 windows tile its 14 x 14 grid about once (196 patches); on the 12 x 12 grid
    # one window per image (49 of 144 patches) at a quarter of the cost buys 4x more steps, which
    # is what a tiny model with a few minutes of pretraining needs (measured below).
    window_sampler=dict(num_windows=1))

# A pretraining long enough to learn (measured on the embedded default, seed 0, the comparison's
# fine-tuning, against the scratch twin with LoMaR's position handling at 4.8 / 4.8 box / mask AP
# and 19.6 mIoU): 4 windows x 1500 iterations at lr 1e-3 gave 4.0 / 3.9 and 16.7; 2 windows x
# 4000 iterations at lr 2e-3 (7 minutes on 2 cores) 5.1 / 4.9 and 20.9; 1 window x 8000
# iterations at lr 2e-3 (8 minutes) 5.4 / 4.9 and 24.1.
max_iters = 8000
optim_wrapper = dict(
    type='OptimWrapper',
    # The paper's 1.5e-4 x batch / 256 is far too small for a few thousand steps of a tiny model.
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.95), weight_decay=0.05),
    # the official groups: no decay on 1-D parameters only (tokens and RPE tables decay)
    paramwise_cfg=dict(flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, eta_min=1e-5, by_epoch=False,
         begin=20, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
auto_scale_lr = dict(base_batch_size=16)

# a checkpoint every 1000 iterations (about a minute of work; each save also formats the config)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=1000, by_epoch=False, max_keep_ckpts=2))
log_processor = dict(window_size=50)
randomness = dict(seed=0, deterministic=True)
