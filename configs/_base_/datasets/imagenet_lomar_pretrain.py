# ImageNet-1k for LoMaR/MAE pretraining, mmpretrain's usual layout under data/imagenet:
#   data/imagenet/train/<wnid>/*.JPEG  and  data/imagenet/meta/train.txt
# RandomResizedCrop(224, scale 0.2-1, bicubic) + horizontal flip, as in the LoMaR/MAE code.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
img_size = 224

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]

# 256 per GPU x 8 GPUs x accumulative_counts 2 (optim_wrapper) = 4096, the paper's batch.
train_dataloader = dict(
    batch_size=256,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
