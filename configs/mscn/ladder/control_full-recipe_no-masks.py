# Control for the MSCN ladder (Jing et al., arXiv 2206.07700): the full recipe of step 9
# (asymmetric blur, colour jitter, grayscale, two views of branch B) with no high-pass filter
# and no masks; the paper reports multi-mask MSCN 1.0 top-1 above the same recipe without masks.
_base_ = ['./step9_multi-mask.py']


def _view(blur_prob):  # noqa: E302  (evaluated at load time, not kept)
    return [
        dict(type='RandomResizedCrop', scale=224, backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf',
             prob=blur_prob),
    ]


train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 2], transforms=[_view(1.0), _view(0.1)]),
    dict(type='PackInputs'),
]
del _view
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
