# A still smaller MAE than mae_vit-tiny-p8_embedded.py (2 blocks x 64-d at 64 px, 8 per batch,
# 200 iterations) for the resume, fault and distributed-launch tests: it exercises the whole
# pretraining chain (data, masking, decoder, checkpoints, resume, torchrun) at about 0.1 s per
# iteration on a CPU. Generate the data first:
#   python tools/generate_data.py
_base_ = ['./mae_vit-tiny-p8_embedded.py']

img_size, patch_size, embed_dims = 64, 8, 64
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=2, num_heads=4,
                  feedforward_channels=2 * embed_dims),
        img_size=img_size),
    neck=dict(
        num_patches=(img_size // patch_size)**2,
        embed_dim=embed_dims,
        decoder_embed_dim=32,
        decoder_depth=1,
        mlp_ratio=2.))

# an 8 x 8 grid and 8 images per batch keep the two-block model at 0.1 s per iteration
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.2, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))

max_iters = 200
# Explicit ``end`` values: stopping early (train_cfg.max_iters=N) keeps the same schedule, so a
# stopped run resumed to max_iters matches an uninterrupted one.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, eta_min=1e-5, by_epoch=False,
         begin=20, end=max_iters),
]
train_cfg = dict(max_iters=max_iters)
auto_scale_lr = dict(base_batch_size=64)

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=100, max_keep_ckpts=2))
log_processor = dict(window_size=5)
