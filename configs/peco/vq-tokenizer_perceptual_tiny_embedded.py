# Tiny perceptual VQ tokenizer (PeCo's first stage) on the embedded default images, for a laptop
# CPU: 96 px crops, 8x downsampling (a 12 x 12 token grid = the tiny patch-8 ViTs' patch grid),
# 512 codes of 32 dims. The perceptual feature network is the main job's own tiny MAE export
# (4 blocks, 128-d, patch 8, absolute position + cls token), its 4 blocks all in S.
#   bash tools/run_main.sh                      # writes work_dirs/main/mae/seed0/pretrain/...
#   python tools/train_tokenizer.py configs/peco/vq-tokenizer_perceptual_tiny_embedded.py \
#       [--perceptual-checkpoint EXPORT] [--no-perceptual]
#   python tools/visualize_reconstruction.py configs/peco/vq-tokenizer_perceptual_tiny_embedded.py \
#       work_dirs/vq-tokenizer_perceptual_tiny_embedded/iter_1000.pth data/pretrain/train/images/00000*.jpg
_base_ = ['../_base_/datasets/embedded_pretrain.py', '../_base_/default_runtime.py']
default_scope = 'mmpretrain'

img_size = 96
# tools/train_tokenizer.py --perceptual-checkpoint replaces it
perceptual_checkpoint = 'work_dirs/main/mae/seed0/pretrain/backbone.safetensors'
model = dict(
    type='PerceptualVQVAE',
    tokenizer=dict(type='VQTokenizer', base_channels=16, channel_mults=(1, 2, 4),
                   num_res_blocks=1, num_codes=512, code_dim=32, beta=0.25, restart_after=20),
    perceptual_loss=dict(
        type='ViTPerceptualLoss',
        loss_weight=1.0,
        backbone=dict(
            type='PlainViT',
            arch=dict(embed_dims=128, num_layers=4, num_heads=4, feedforward_channels=512),
            img_size=img_size, pretrain_img_size=img_size, patch_size=8, with_cls_token=True,
            use_abs_pos=True, window_size=0, out_indices=(0, 1, 2, 3), drop_path_rate=0.,
            init_cfg=dict(type='Pretrained', checkpoint=perceptual_checkpoint))),
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))

max_iters = 1000
optim_wrapper = dict(
    type='OptimWrapper',
    # VQGAN's Adam betas (0.5, 0.9); lr for this batch of 16 on a CPU
    optimizer=dict(type='Adam', lr=1e-3, betas=(0.5, 0.9)))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, eta_min=1e-5, by_epoch=False,
         begin=50, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(window_size=50)
randomness = dict(seed=0, deterministic=True)
