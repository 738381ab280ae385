# Tiny LoMaR-BEiT on the embedded default images: the tiny BEiT recipe and tokenizer
# (configs/beit/beit_vit-tiny-p8_vq-tokenizer_embedded.py) with the tiny LoMaR encoder and
# windows (configs/lomar/pretrain_tiny_embedded.py: 1 window of 7 x 7 per 96 px image, 39 of 49
# patches masked, contextual relative position).
#   python tools/train_tokenizer.py configs/peco/vq-tokenizer_perceptual_tiny_embedded.py --no-perceptual
#   python tools/train.py configs/lomar_beit/lomar-beit_vit-tiny-p8_vq-tokenizer_embedded.py
_base_ = '../beit/beit_vit-tiny-p8_vq-tokenizer_embedded.py'

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=96, second_size=96,
         interpolation='bicubic', second_interpolation='bicubic', scale=(0.1, 0.33)),
    dict(type='PackInputs'),
]))
model = dict(
    type='LoMaRBEiT',
    backbone=dict(
        _delete_=True,
        type='LoMaRViT',
        arch=dict(embed_dims=128, num_layers=4, num_heads=4, feedforward_channels=512),
        img_size=96, patch_size=8, final_norm=True, out_type='raw',
        rel_pos_cfgs=[dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]),
    window_sampler=dict(type='WindowSampler', window_size=7, num_windows=1, mask_ratio=0.8))
# LoMaR's tiny schedule: 8000 iterations at lr 2e-3 (0.23 s per iteration on 2 cores: one
# 50-token window per image, plus the tokenizer's whole-image view)
max_iters = 8000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, eta_min=1e-5, by_epoch=False,
         begin=20, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
# LoMaR's optimiser groups (no decay on 1-D parameters; tokens and RPE tables decay)
optim_wrapper = dict(optimizer=dict(lr=2e-3),
                     paramwise_cfg=dict(_delete_=True, flat_decay_mult=0.0))
