# ViTDet Mask R-CNN with a plain ViT-B/16 (Li et al., "Exploring Plain Vision Transformer
# Backbones for Object Detection", ECCV 2022): window attention (14 x 14) in all blocks but the
# global ones (2, 5, 8, 11), one stride-16 map, no final norm, drop path 0.1; simple feature
# pyramid (strides 4-32 + a stride-64 max-pool level); RPN with 2 convs; 4conv1fc box head and
# 4-conv mask head, both with channel LayerNorm. Decomposed relative position (zero-init) in every
# block for every method; a method config adds only its own position handling (absolute position
# for MAE, LoMaR's contextual tables).
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py']

norm_cfg = dict(type='mmpretrain.LN2d', eps=1e-6)  # channel LayerNorm for conv features
model = dict(
    data_preprocessor=dict(
        pad_size_divisor=32,
        batch_augments=[dict(type='BatchFixedSizePad', size=(1024, 1024), pad_mask=True)]),
    backbone=dict(
        _delete_=True,
        type='PlainViT',
        arch='b',
        img_size=1024,
        patch_size=16,
        pretrain_img_size=224,
        rel_pos_cfgs=[dict(type='DecomposedRelPos')],
        window_size=14,
        global_attn_indexes=(2, 5, 8, 11),
        out_indices=(11, ),
        drop_path_rate=0.1,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm=False,
        with_cp=False),  # True: activation checkpointing, for small GPUs at 1024 px
    neck=dict(
        _delete_=True,
        type='SimpleFeaturePyramid',
        backbone_channel=768,
        in_channels=[192, 384, 768, 768],
        out_channels=256,
        num_outs=5,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        norm_cfg=norm_cfg),
    rpn_head=dict(num_convs=2),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
