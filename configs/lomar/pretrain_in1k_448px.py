# LoMaR ViT-B/16 at 448 px with 9 windows, the paper's high-resolution setting (its 3.1x speed-up
# over MAE). The cost per image depends on the number of windows only, not on the resolution.
_base_ = ['./pretrain_in1k.py']

img_size = 448
model = dict(backbone=dict(img_size=img_size), window_sampler=dict(num_windows=9))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.2, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]))
