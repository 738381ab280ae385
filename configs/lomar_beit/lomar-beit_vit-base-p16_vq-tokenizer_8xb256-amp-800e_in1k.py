# LoMaR-BEiT ViT-B/16 on ImageNet-1K (LoMaR paper, arXiv 2206.00790, Sec. 4: 83.4 top-1 against
# BEiT's 83.2 in 35.8% of BEiT's pretraining time): BEiT v1's recipe and target generator
# (configs/beit/beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py: batch 2048, lr 1.5e-3,
# 10 warm-up epochs, clip 3.0, wd 0.05, 800 epochs) with LoMaR's local windows: 4 windows of
# 7 x 7 per 224 px image, 80% of each masked, the encoder (LoMaRViT, contextual relative
# position, no absolute position) sees the window tokens only, targets are the whole image's
# tokens at the window positions, cross-entropy on the masked window patches.
#   bash tools/dist_train.sh configs/lomar_beit/lomar-beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py 8
_base_ = '../beit/beit_vit-base-p16_vq-tokenizer_8xb256-amp-800e_in1k.py'

train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomResizedCropAndInterpolationWithTwoPic', size=224, second_size=224,
         interpolation='bicubic', second_interpolation='bicubic', scale=(0.08, 1.0)),
    dict(type='PackInputs'),  # masking happens in the model (WindowSampler)
]))
model = dict(
    type='LoMaRBEiT',
    backbone=dict(
        _delete_=True,
        type='LoMaRViT', arch='b', img_size=224, patch_size=16, final_norm=True,
        out_type='raw', drop_path_rate=0.1,
        rel_pos_cfgs=[dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]),
    window_sampler=dict(type='WindowSampler', window_size=7, num_windows=4, mask_ratio=0.8))
find_unused_parameters = False
