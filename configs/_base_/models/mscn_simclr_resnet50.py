# MSCN's baseline siamese network (Jing et al., arXiv 2206.07700): SimCLR with a ResNet-50, as
# mmpretrain builds it (configs/simclr/simclr_resnet50_16xb256-coslr-200e_in1k.py: SyncBN,
# zero-init residuals, 2-layer 2048-2048-128 projector, InfoNCE at temperature 0.1), wrapped by
# MultiMaskSiamese so the loss pairs branch A's view with each masked view of branch B.
# The joint-embedding loss is pluggable: replace `algorithm` with mmpretrain's BYOL or SimSiam
# (and set pairing='batched', see mim_det/models/selfsup/mscn.py).
model = dict(
    type='MultiMaskSiamese',
    pairing='per_pair',
    algorithm=dict(
        type='SimCLR',
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True),
        backbone=dict(
            type='ResNet',
            depth=50,
            norm_cfg=dict(type='SyncBN'),
            zero_init_residual=True),
        neck=dict(
            type='NonLinearNeck',
            in_channels=2048,
            hid_channels=2048,
            out_channels=128,
            num_layers=2,
            with_avg_pool=True),
        head=dict(
            type='ContrastiveHead',
            loss=dict(type='CrossEntropyLoss'),
            temperature=0.1)))
