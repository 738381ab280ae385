# The ViTDet Mask R-CNN of vitdet_mask-rcnn_vit-b16.py scaled down for a CPU, for the embedded
# COCO data (embedded_coco.py: 6 classes, 256 px): the tiny ViT the embedded pretraining configs
# train (4 blocks, 128-d, 4 heads, patch 8 -> a stride-8 map, pretrained at 96 px), 8 x 8 windows
# with the last block global, the simple feature pyramid with factors (2, 1, 1/2, 1/4) for strides
# 4-32, 64-channel heads and pyramid (ViT-B: 256), fewer proposals and sampled RoIs (the scenes
# hold fewer than 10 objects). A method's tiny config adds its position keys and checkpoint.
_base_ = ['./vitdet_mask-rcnn_vit-b16.py']

embed_dims = 128
channels = 64
model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=(256, 256), pad_mask=True)]),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=256,
        patch_size=8,
        pretrain_img_size=96,
        window_size=8,
        global_attn_indexes=(3, ),
        out_indices=(3, ),
        drop_path_rate=0.0),
    neck=dict(
        backbone_channel=embed_dims,
        in_channels=[embed_dims // 2, embed_dims, embed_dims, embed_dims],
        out_channels=channels,
        scale_factors=(2.0, 1.0, 0.5, 0.25)),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, conv_out_channels=channels, fc_out_channels=256,
                       num_classes=6),  # the embedded categories
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels, num_classes=6)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))
