# Tiny ViTDet Mask R-CNN on the embedded COCO-format data (python tools/generate_data.py), for a
# laptop CPU: fine-tunes the 4-layer 128-d ViT (patch 8) that configs/lomar/pretrain_tiny_embedded.py
# pretrains, through the same code path as lomar_maskrcnn_coco.py: PlainViT with LoMaR's
# pretrained contextual relative position (no absolute position), window attention (8 x 8) with
# the last block global, simple feature pyramid, Mask R-CNN with LayerNorm heads, layer-wise lr
# decay, large-scale jitter (milder: the schedule is under a thousand iterations) at 256 px.
# The backbone has stride 8, so the pyramid uses factors (2, 1, 1/2, 1/4) for strides 4-32.
#   python tools/train.py configs/lomar/pretrain_tiny_embedded.py --work-dir work_dirs/lomar_tiny
#   python tools/export_backbone.py work_dirs/lomar_tiny/iter_300.pth work_dirs/lomar_tiny/backbone.safetensors
#   python tools/train.py configs/vitdet/lomar_maskrcnn_tiny_embedded.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/lomar_tiny/backbone.safetensors
#   python tools/test.py configs/vitdet/lomar_maskrcnn_tiny_embedded.py \
#       work_dirs/lomar_maskrcnn_tiny_embedded/iter_1200.pth
_base_ = [
    '../_base_/models/vitdet_mask-rcnn_vit-b16.py',
    '../_base_/datasets/coco_instance_lsj_1024.py',
    '../_base_/schedules/vitdet_100e.py',
    '../_base_/default_runtime_det.py',
]
default_scope = 'mmdet'

pretrained = 'work_dirs/lomar_tiny/backbone.safetensors'
data_root = 'data/coco/'
# The embedded categories (mim_det.datasets.synthetic.CATEGORIES), in id order.
classes = ('disc', 'square', 'triangle', 'star', 'hexagon', 'cross')
metainfo = dict(classes=classes)
image_size = (256, 256)
embed_dims = 128
channels = 64  # heads and pyramid (ViT-B: 256)
norm_cfg = dict(type='mmpretrain.LN2d', eps=1e-6)

model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=4, feedforward_channels=512),
        img_size=image_size[0],
        patch_size=8,
        pretrain_img_size=96,
        window_size=8,
        global_attn_indexes=(3, ),
        out_indices=(3, ),
        drop_path_rate=0.0,
        use_abs_pos=False,
        use_rel_pos=False,
        use_contextual_rpe=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(
        backbone_channel=embed_dims,
        in_channels=[embed_dims // 2, embed_dims, embed_dims, embed_dims],
        out_channels=channels,
        scale_factors=(2.0, 1.0, 0.5, 0.25)),
    rpn_head=dict(in_channels=channels, feat_channels=channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=channels),
        bbox_head=dict(in_channels=channels, conv_out_channels=channels, fc_out_channels=256,
                       num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(in_channels=channels, conv_out_channels=channels,
                       num_classes=len(classes))),
    # scenes hold fewer than 10 objects: fewer proposals and sampled RoIs than COCO's
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=300)))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='PadKeepImgShape', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='PadKeepImgShape', size=image_size, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo, filter_cfg=dict(min_size=8),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=1,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_iters = 1200
# fp32 on CPU; a short schedule from a weak 300-iteration pretraining wants a larger lr
# (measured here at 500 iterations: lr 1e-3 -> 0.098 bbox mAP, 2e-3 -> 0.054). Layer decay 0.9:
# with 4 blocks, ViT-B's 0.7 would leave the patch embedding at 0.7^5 = 0.17 of the lr.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(layer_decay_rate=0.9),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters,
         milestones=[int(max_iters * 0.85)], gamma=0.1),
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters, dynamic_intervals=None)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
log_processor = dict(window_size=20)
auto_scale_lr = dict(base_batch_size=4)
randomness = dict(seed=0)
