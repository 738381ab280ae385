# The embedded labelled one-object images (python tools/generate_data.py -> data/classify: 6 shape
# classes, 112 px, 120 training / 60 validation images) for the tiny ViTs (96 px): mmpretrain's
# CustomDataset on the generator's lists (meta/{train,val}.txt carry the labels, in the category
# order below), RandomResizedCrop + flip for training, resize to 110 + centre crop 96 for
# evaluation, top-1 accuracy. Classification fine-tuning, linear probes and the supervised
# baseline's validation share it.
data_root = 'data/classify'
# The embedded categories (mim_det.datasets.synthetic.CATEGORIES), in label order.
classes = ('disc', 'square', 'triangle', 'star', 'hexagon', 'cross')
img_size = 96
data_preprocessor = dict(
    num_classes=len(classes),
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=110, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=data_root, classes=classes,
                 ann_file='meta/train.txt', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=data_root, classes=classes,
                 ann_file='meta/val.txt', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
# the default validation / test loops (mmpretrain's schedules declare them with the data they run)
val_cfg = dict()
test_cfg = dict()
