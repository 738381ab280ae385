# MSCN ladder step 8 (Jing et al., arXiv 2206.07700; paper linear probe: 65.6 top-1): + asymmetric
# branches: branch A blurs always and is masked half the time, branch B blurs with p 0.1 and is
# always masked (mim_det's per-branch values; see README.md).
# Same recipe as ../mscn_resnet50_16xb256-lars-100e_in1k.py (SimCLR, ResNet-50, 100 epochs,
# batch 4096, LARS); only the views change. See README.md for the whole ladder.
_base_ = ['../mscn_resnet50_16xb256-lars-100e_in1k.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 1],
         transforms=[{{_base_.view_pipeline_a}}, {{_base_.view_pipeline_b}}]),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
