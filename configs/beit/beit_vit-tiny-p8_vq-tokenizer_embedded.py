# Tiny BEiT v1 on the embedded default images, for a laptop CPU: the tiny encoder of the other
# rows (96 px, patch 8 -> 12 x 12 grid, 4 blocks, 128-d, 4 heads) as mmpretrain's
# BEiTPretrainViT (shared relative position bias, layer scale 0.1), blockwise masking of 55 of
# 144 patches (BEiT's 75 / 196 ratio), and the tiny VQ tokenizer (8x: its 12 x 12 tokens are
# the patch grid) trained without the perceptual loss as target generator.
#   python tools/train_tokenizer.py configs/peco/vq-tokenizer_perceptual_tiny_embedded.py --no-perceptual
#   python tools/train.py configs/beit/beit_vit-tiny-p8_vq-tokenizer_embedded.py
#   python tools/export_backbone.py work_dirs/beit_vit-tiny-p8_vq-tokenizer_embedded/iter_8000.pth beit.safetensors
_base_ = ['../_base_/datasets/embedded_pretrain.py', '../_base_/default_runtime.py']
default_scope = 'mmpretrain'

img_size, patch_size, embed_dims, num_codes = 96, 8, 128, 512
tokenizer_checkpoint = ('work_dirs/vq-tokenizer_perceptual_tiny_embedded_no-perceptual/'
                        'iter_1000.pth')
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # the crop scale of the other tiny rows (configs/_base_/datasets/embedded_pretrain.py)
    dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=img_size, second_size=img_size,
         interpolation='bicubic', second_interpolation='bicubic', scale=(0.1, 0.33)),
    dict(type='BEiTMaskGenerator', input_size=(12, 12), num_masking_patches=55,
         max_num_patches=None, min_num_patches=16),
    dict(type='PackInputs'),
]))
model = dict(
    type='BEiT',
    backbone=dict(
        type='BEiTPretrainViT',
        arch=dict(embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=img_size, patch_size=patch_size, drop_path_rate=0., final_norm=True,
        out_type='raw', layer_scale_init_value=0.1,
        init_cfg=[
            dict(type='TruncNormal', std=0.02, layer='Linear'),
            dict(type='TruncNormal', std=0.02, layer='Conv2d'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0)
        ]),
    neck=None,
    head=dict(type='BEiTV1Head', embed_dims=embed_dims, num_embed=num_codes,
              loss=dict(type='CrossEntropyLoss')),
    target_generator=dict(
        type='VQTokenizer', base_channels=16, channel_mults=(1, 2, 4), num_res_blocks=1,
        num_codes=num_codes, code_dim=32, frozen=True,
        init_cfg=dict(type='Pretrained', checkpoint=tokenizer_checkpoint, prefix='tokenizer.')),
    data_preprocessor=dict(
        type='TwoNormDataPreprocessor',
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        second_mean=[123.675, 116.28, 103.53], second_std=[58.395, 57.12, 57.375],
        to_rgb=True))

# 8000 iterations, as the MAE, LoMaR and LoMaR-BEiT rows (41 minutes on a 2-core machine, 0.3 s
# per iteration: the encoder sees all 145 tokens where MAE's sees 37, and the tokenizer encodes
# every second view; MAE and LoMaR take about 0.1 s). Measured at seed 2 against the same
# scratch twin (5.0 / 5.0 box / mask AP, 22.1 mIoU): 4000 iterations gave 5.7 / 5.2 / 21.5, a
# tie inside the detectors' noise and a loss on ADE20k; 8000 give 7.1 / 7.9 / 22.5. The tiny
# PeCo keeps 4000 (configs/peco/peco_vit-tiny-p8_embedded.py).
max_iters = 8000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(custom_keys={
        '.ln': dict(decay_mult=0.0), '.bias': dict(decay_mult=0.0),
        'q_bias': dict(decay_mult=0.0), 'v_bias': dict(decay_mult=0.0),
        '.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0),
        '.gamma': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', T_max=max_iters - 40, eta_min=1e-5, by_epoch=False,
         begin=40, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=50)
randomness = dict(seed=0, deterministic=True)
