# MSCN's full augmentation (the top of its ladder, Jing et al. arXiv 2206.07700) on ImageNet-1k
# at 224 px: SimCLR's view augmentation (RandomResizedCrop, flip, colour jitter 0.8/0.8/0.8/0.2
# with p 0.8, grayscale p 0.2, Gaussian blur), then the high-pass filter and one MSCN mask
# (ratio 0.15 on a 32-px grid, 20 % focal, channel masks with p 0.7, noise fill).
# Branch A: one view; branch B: two masked views (multi-mask), each paired with A's view.
# The two branches differ in blur (1.0 / 0.1, BYOL's asymmetry) and masking probability
# (0.5 / 1.0): these per-branch values are mim_det's choice, the paper's text could not be
# read here (see mim_det/datasets/transforms/siamese_masks.py).
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
img_size = 224
mask_ratio = 0.15
grid_size = 32  # px at 224
high_pass_sigma = 5.0  # px at 224


def _view(blur_prob, mask_prob):  # noqa: E302  (evaluated at load time, not kept)
    return [
        dict(type='RandomResizedCrop', scale=img_size, backend='pillow'),
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomApply', prob=0.8, transforms=[
            dict(type='ColorJitter', brightness=0.8, contrast=0.8, saturation=0.8, hue=0.2)]),
        dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
             channel_weights=(0.114, 0.587, 0.2989)),
        dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf',
             prob=blur_prob),
        dict(type='HighPassFilter', sigma=high_pass_sigma),
        dict(type='SiameseMask', ratio=mask_ratio, grid_size=grid_size, focal_prob=0.2,
             channel_prob=0.7, fill='noise', prob=mask_prob),
    ]


view_pipeline_a = _view(blur_prob=1.0, mask_prob=0.5)
view_pipeline_b = _view(blur_prob=0.1, mask_prob=1.0)
del _view
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiView', num_views=[1, 2], transforms=[view_pipeline_a, view_pipeline_b]),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
