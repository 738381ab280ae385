# BEiT v1 (Bao et al., ICLR 2022, arXiv 2106.08254) ViT-B/16 on ImageNet-1K with a tokenizer
# this toolkit trains: mmpretrain's own BEiT recipe (BEiT, BEiTPretrainViT with the shared
# relative position bias and layer scale 0.1, BEiTV1Head, blockwise BEiTMaskGenerator 75 of 196
# patches, AdamW lr 1.5e-3, batch 2048, 10 warm-up epochs, clip 3.0, drop path 0.1, wd 0.05) at
# the paper's 800 epochs. DALL-E's dVAE cannot be downloaded here, so the target generator is a
# VQTokenizer trained by tools/train_tokenizer.py: the plain VQ-VAE (--no-perceptual) for BEiT;
# PeCo's configs (configs/peco/) use the perceptual one. A user-provided DALL-E encoder file:
# beit_vit-base-p16_dalle_8xb256-amp-800e_in1k.py.
#   python tools/train_tokenizer.py configs/peco/vq-tokenizer_perceptual_vit-b_8xb64-100e_in1k.py --no-perceptual
#   bash tools/dist_train.sh configs/beit/beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py 8
# the 800-epoch schedule and everything but the tokenizer
_base_ = './beit_vit-base-p16_dalle_8xb256-amp-800e_in1k.py'

tokenizer_checkpoint = ('work_dirs/vq-tokenizer_perceptual_vit-b_8xb64-100e_in1k_no-perceptual/'
                        'epoch_100.pth')
# The tokenizer downsamples 16x: it reads the same 224 px crop (a token per ViT/16 patch), in
# the ImageNet normalisation it was trained with (DALL-E reads a 112 px view mapped to
# 0.8 x + 0.1).
data_preprocessor = dict(
    second_mean=[123.675, 116.28, 103.53], second_std=[58.395, 57.12, 57.375])
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=224, second_size=224,
         interpolation='bicubic', second_interpolation='bicubic', scale=(0.08, 1.0)),
    dict(type='BEiTMaskGenerator', input_size=(14, 14), num_masking_patches=75,
         max_num_patches=None, min_num_patches=16),
    dict(type='PackInputs'),
]))
model = dict(
    target_generator=dict(
        _delete_=True,
        type='VQTokenizer', base_channels=128, channel_mults=(1, 1, 2, 2), num_res_blocks=1,
        num_codes=8192, code_dim=256, frozen=True,
        init_cfg=dict(type='Pretrained', checkpoint=tokenizer_checkpoint, prefix='tokenizer.')))
