# The tiny UperNet of configs/upernet/mae_upernet_tiny_embedded.py for the data-scaling grid's
# larger encoder (mae_vit-small-p8_data-scaling_embedded.py: 6 blocks, 192-d, 6 heads). The
# pyramid takes blocks 2, 3, 4 and 6 (0-based 1, 2, 3, 5): the same depth fractions (1/3, 1/2, 2/3,
# 1) as ViT-B's blocks 4, 6, 8, 12 in mmseg's MAE UperNet.
_base_ = ['../upernet/mae_upernet_tiny_embedded.py']

embed_dims = 192
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=6, num_heads=6,
                  feedforward_channels=4 * embed_dims),
        out_indices=(1, 2, 3, 5)),
    neck=dict(embed_dim=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4),
    auxiliary_head=dict(in_channels=embed_dims))
