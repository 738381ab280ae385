# Tiny ViTDet Mask R-CNN fine-tuned from a tiny TinyMIM student export on the embedded COCO data
# (CPU): the tiny MAE recipe (mae_maskrcnn_tiny_embedded.py: absolute table resized from the
# 12 x 12 pretraining grid + zero-initialised decomposed relative position) on the student's
# smaller ViT (4 blocks, 96-d, 3 heads; configs/tinymim/tinymim_vit-tiny-p8_mae-teacher_embedded.py),
# the simple feature pyramid's inputs narrowed to match. Without a checkpoint
# (model.backbone.init_cfg=None) it is the student's from-scratch twin in the comparison table.
#   python tools/train.py configs/vitdet/tinymim_maskrcnn_tiny_embedded.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/tinymim_tiny/backbone.safetensors
_base_ = ['./mae_maskrcnn_tiny_embedded.py']

embed_dims = 96
pretrained = 'work_dirs/tinymim_vit-tiny-p8_mae-teacher_embedded/backbone.safetensors'
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=3,
                  feedforward_channels=4 * embed_dims),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=embed_dims,
              in_channels=[embed_dims // 2, embed_dims, embed_dims, embed_dims]))
