# LoMaR with a ViT-B/16 encoder (Chen et al., arXiv 2206.00790): 4 random 7x7 windows per image,
# 39 of 49 patches masked in each, contextual relative position on keys (iRPE ctx, 50 buckets),
# no absolute position, final LayerNorm + linear pixel head, norm_pix MSE on masked patches.
model = dict(
    type='LoMaR',
    backbone=dict(
        type='LoMaRViT',
        arch='b',
        img_size=224,
        patch_size=16,
        final_norm=True,
        out_type='raw',
        rel_pos_cfgs=[dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)]),
    head=dict(
        type='LoMaRHead',
        embed_dims=768,
        patch_size=16,
        norm_pix=True,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')),
    # position_mode='official' reproduces junchen14/LoMaR: positions drawn once per batch, so
    # each image sees one position with num_windows masks (see mim_det WindowSampler).
    window_sampler=dict(
        type='WindowSampler',
        window_size=7,
        num_windows=4,
        mask_ratio=0.8,
        position_mode='per_image'),
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))
