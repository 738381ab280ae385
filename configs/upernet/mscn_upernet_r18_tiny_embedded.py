# Tiny UperNet R-18 on the embedded ADE20k data (python tools/generate_data.py), for a CPU:
# fine-tunes the tiny MSCN ResNet-18 (configs/mscn/mscn_resnet18_embedded.py) with
# mscn_upernet_r50_4xb4-160k_ade20k-512x512.py scaled down -- BN instead of SyncBN, the plain
# stem MSCN pretrains, 64-channel heads -- on the tiny UperNet's data and schedule length
# (configs/_base_/upernet_tiny_embedded.py: 256 px, 800 iterations; AdamW 3e-3 without the
# ViT's layer decay). Without a checkpoint (model.backbone.init_cfg=None) it is MSCN's
# from-scratch twin in the comparison table.
#   python tools/train.py configs/upernet/mscn_upernet_r18_tiny_embedded.py
_base_ = ['../_base_/upernet_tiny_embedded.py']
default_scope = 'mmseg'

pretrained = 'work_dirs/mscn_tiny/backbone.safetensors'
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True, type='ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg, norm_eval=False, style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    decode_head=dict(in_channels=[64, 128, 256, 512], channels=64, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=256, channels=64, norm_cfg=norm_cfg))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=3e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
