# PeCo's perceptual VQ tokenizer at paper scale (Dong et al., arXiv 2111.12710, Sec. 3.2 / 4.1):
# ImageNet-1K at 224 px, 16x downsampling (a 14 x 14 token grid, one token per ViT/16 patch),
# a codebook of 8192 codes, beta = 0.25, pixel + VQ + perceptual losses, the perceptual features
# from blocks 3, 6, 9, 12 of a frozen SELF-SUPERVISED ViT-B. PeCo used a MoCo v3 ViT-B; any ViT-B
# the shared loader reads works here (an official MAE ViT-B file, a mim_det export):
#   bash tools/dist_train.sh configs/peco/vq-tokenizer_perceptual_vit-b_8xb64-100e_in1k.py 8 \
#       --cfg-options perceptual_checkpoint=...   (or tools/train_tokenizer.py, one process)
# Values the sources available here do not give (see the README's PeCo section): the code
# dimension (256, VQGAN's f16 models), the encoder/decoder widths (a residual conv net of
# VQGAN's kind, one res block per stage), the tokenizer's schedule (100 epochs) and its
# optimiser (VQGAN's Adam (0.5, 0.9), lr 4.5e-6 x total batch = 2.3e-3 at 8 x 64).
_base_ = ['../_base_/default_runtime.py']
default_scope = 'mmpretrain'

img_size = 224
perceptual_checkpoint = 'checkpoints/mae_pretrain_vit_base.pth'
model = dict(
    type='PerceptualVQVAE',
    tokenizer=dict(type='VQTokenizer', base_channels=128, channel_mults=(1, 1, 2, 2),
                   num_res_blocks=1, num_codes=8192, code_dim=256, beta=0.25,
                   restart_after=100),
    perceptual_loss=dict(
        type='ViTPerceptualLoss',
        loss_weight=1.0,
        backbone=dict(
            type='PlainViT', arch='b', img_size=img_size, patch_size=16, with_cls_token=True,
            use_abs_pos=True, window_size=0, out_indices=(2, 5, 8, 11), drop_path_rate=0.,
            init_cfg=dict(type='Pretrained', checkpoint=perceptual_checkpoint))),
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.08, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='train',
                 pipeline=train_pipeline))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='Adam', lr=4.5e-6 * 512, betas=(0.5, 0.9)))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=99, by_epoch=True, begin=1, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
auto_scale_lr = dict(base_batch_size=512)
