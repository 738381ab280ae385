# The UperNet of upernet_plain-vit-b16.py scaled down for a CPU, for the embedded ADE20k data
# (embedded_ade.py: 6 classes, 128 px crops): the tiny ViT the embedded pretraining configs train
# (4 blocks, 128-d, 4 heads, patch 8 -> stride-8 maps of every block, pretrained at 96 px),
# Feature2Pyramid rescales (2, 1, 1/2, 1/4) for UperNet's strides 4-32, 64/32-channel heads, plain
# BN (mmengine's Runner turns SyncBN into BN in one process, but torch's SyncBatchNorm refuses CPU
# tensors in a multi-process gloo run), slide inference with 128 px windows at stride 85 (two
# thirds, as 341 / 512). Position handling of the tiny recipe: ViTDet style (no cls token, no
# per-head tables, no layer scale); a method's tiny config adds its position keys and checkpoint.
_base_ = ['./upernet_plain-vit-b16.py']

embed_dims = 128
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(size=(128, 128))
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=128,
        patch_size=8,
        pretrain_img_size=96,
        with_cls_token=False,
        rel_pos_cfgs=[],
        layer_scale_init_value=0.,
        abs_pos_grid='pretrain',
        out_indices=(0, 1, 2, 3)),
    neck=dict(embed_dim=embed_dims, rescales=[2, 1, 0.5, 0.25], norm_cfg=norm_cfg),
    decode_head=dict(in_channels=[embed_dims] * 4, channels=64, num_classes=6,
                     norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=embed_dims, channels=32, num_classes=6, norm_cfg=norm_cfg),
    test_cfg=dict(mode='slide', crop_size=(128, 128), stride=(85, 85)))
