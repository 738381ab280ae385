# The data-scaling grid's larger model (see mae_vit-tiny-p8_data-scaling_embedded.py): 6 blocks,
# 192-d, 6 heads (about 3.4x the tiny encoder's compute per token), same data, masking, decoder
# and schedule shape. The paper's finding to test: a larger model overfits a small fraction with
# long training (training loss falls, held-out MIM loss rises) where a smaller one does not.
_base_ = ['./mae_vit-tiny-p8_data-scaling_embedded.py']

embed_dims = 192
model = dict(
    backbone=dict(
        arch=dict(embed_dims=embed_dims, num_layers=6, num_heads=6,
                  feedforward_channels=4 * embed_dims)),
    neck=dict(embed_dim=embed_dims))
