# MSCN ladder step 0 (Jing et al., arXiv 2206.07700; paper linear probe 33.5 top-1):
# random resized crops and flips only, no masks (the baseline)
# Same recipe as ../mscn_resnet50_16xb256-lars-100e_in1k.py (SimCLR, ResNet-50, 100 epochs,
# batch 4096, LARS) with both branches alike and one view each; only the views change.
_base_ = ['../mscn_resnet50_16xb256-lars-100e_in1k.py']

view = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=2, transforms=[view]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
