# Tiny UperNet R-18 on the embedded ADE20k data (python tools/generate_data.py), for a CPU:
# fine-tunes the tiny MSCN ResNet-18 (configs/mscn/mscn_resnet18_embedded.py) with
# mscn_upernet_r50_4xb4-160k_ade20k-512x512.py scaled down -- BN instead of SyncBN, the plain
# stem MSCN pretrains, 64-channel heads -- on the tiny UperNet's data and schedule length
# (configs/_base_/upernet_tiny_embedded.py: 256 px, 800 iterations) with AdamW at 1e-3, as the
# tiny Mask R-CNN R-18, without the ViT's layer decay. Measured with the comparison's 600
# iterations at seed 0 (MSCN seed-0 export / from scratch, mIoU): AdamW 3e-3, the ViT
# segmentors' lr, 16.0 / 22.4 (an earlier run); mmseg's SGD 0.01 (momentum 0.9, wd 5e-4)
# 16.9 / 19.3; AdamW 1e-3 23.9 / 24.0. Without a checkpoint (model.backbone.init_cfg=None) it
# is MSCN's from-scratch twin in the comparison table.
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
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
