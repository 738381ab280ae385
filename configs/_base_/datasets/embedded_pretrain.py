# The embedded unlabeled images (python tools/generate_data.py -> data/pretrain) for tiny
# pretraining on a CPU: mmpretrain's CustomDataset without labels, RandomResizedCrop(0.2-1,
# bicubic) + flip as the paper recipes, at 96 px (a 12 x 12 grid for the tiny patch-8 ViTs),
# batch 16 from an infinite sampler (iteration-based schedules).
img_size = 96
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.2, 1.0),
         backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset',
        data_root='data/pretrain',
        data_prefix='train',
        with_label=False,
        pipeline=train_pipeline))
