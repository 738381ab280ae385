# ADE20k (ADEChallengeData2016) for 512 x 512 training, mmseg's standard pipeline:
# label 0 ("other") is ignored (the datasets' reduce_zero_label: 0 -> 255, 1..150 -> 0..149;
# LoadAnnotations reads it from the dataset, which mmseg 1.x prefers); training images
# are resized to a random scale of (2048, 512) x 0.5..2.0 keeping the aspect ratio, cropped to
# 512 (a crop may hold at most 75 % of one class), flipped and colour-jittered; test images are
# resized to (2048, 512) keeping the ratio and evaluated against labels at their original size.
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    # labels are loaded after the resize: metrics are computed at the original resolution
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# 8 GPUs x 2 images = 16 per iteration
train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        reduce_zero_label=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        reduce_zero_label=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
