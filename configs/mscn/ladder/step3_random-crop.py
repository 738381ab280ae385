# MSCN ladder step 3 (Jing et al., arXiv 2206.07700; paper linear probe 40.0 top-1):
# + random resized crops together with the masks
# Same recipe as ../mscn_resnet50_16xb256-lars-100e_in1k.py (SimCLR, ResNet-50, 100 epochs,
# batch 4096, LARS) with both branches alike and one view each; only the views change.
_base_ = ['../mscn_resnet50_16xb256-lars-100e_in1k.py']

view = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='HighPassFilter', sigma=5.0),
    dict(type='SiameseMask', ratio=0.15, grid_size=32, focal_prob=0.2, channel_prob=0.0,
         fill='mean'),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
