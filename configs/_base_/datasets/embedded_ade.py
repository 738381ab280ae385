# The embedded ADE20k-format data (python tools/generate_data.py -> data/ade: 6 shape classes and
# the ignored "other", scenes of 224..320 px) with mmseg's ADE20k pipeline scaled down: a base
# scale of (1024, 256) (short side 256 keeps objects at about their drawn size, as (2048, 512)
# does for ADE20k's photos), 128 px crops, IoUMetric.
_base_ = ['./ade20k_512.py']

dataset_type = 'BaseSegDataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = (128, 128)
# The embedded categories (mim_det.datasets.synthetic.CATEGORIES) after reduce_zero_label:
# label 0 ("other") is ignored, ids 1..6 become classes 0..5.
classes = ('disc', 'square', 'triangle', 'star', 'hexagon', 'cross')
palette = [[220, 20, 60], [0, 130, 200], [60, 180, 75], [255, 225, 25], [145, 30, 180],
           [245, 130, 48]]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(1024, 256), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1024, 256), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# mmseg's ADE20KDataset fixes ADE20k's 150 class names, so the embedded classes go through
# BaseSegDataset with the ADE20k file layout (.jpg images, .png labels, reduce_zero_label).
embedded_ade = dict(
    type=dataset_type,
    data_root=data_root,
    metainfo=dict(classes=classes, palette=palette),
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True)
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(embedded_ade, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(embedded_ade, pipeline=test_pipeline))
test_dataloader = val_dataloader
