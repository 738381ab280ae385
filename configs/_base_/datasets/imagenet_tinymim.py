# ImageNet-1k for TinyMIM distillation (OliverRensu/TinyMIM, main_distill.py's TwoCropsTransform):
# ONE RandomResizedCrop(224, scale 0.2-1, bicubic) + horizontal flip shared by both views, then
# the teacher's view as it is and the student's view with ColorJitter(0.4, 0.4, 0.4) (mmpretrain's
# MultiView on the shared crop: view 1 untouched, view 2 jittered); ImageNet mean / std in the
# data preprocessor. 512 images per GPU: 8 GPUs give TinyMIM's batch of 4096.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[[], [dict(type='ColorJitter', brightness=0.4, contrast=0.4,
                                saturation=0.4)]]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=512,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
