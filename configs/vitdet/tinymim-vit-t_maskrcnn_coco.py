# ViTDet Mask R-CNN on COCO from a TinyMIM ViT-T/16 (192-d, 12 blocks, 6 heads) student export: the ViT-B recipe of
# mae_maskrcnn_coco.py (absolute position from the 14 x 14 pretraining grid resized to the 64 x 64
# map + zero-initialised decomposed relative position, 14 x 14 windows with global blocks 2, 5,
# 8, 11, drop path 0.1, LSJ 1024, 100 epochs) on the narrower ViT, the simple feature pyramid's
# inputs scaled to its width (strides 4-32 from D/4, D/2, D, D channels) and its 256-channel
# outputs and heads kept (ViTDet's widths for every backbone size). The ViTDet paper has no
# ViT-S/T; this is the B recipe at the student's size.
#   bash tools/dist_train.sh configs/vitdet/tinymim-vit-t_maskrcnn_coco.py 8
_base_ = ['./mae_maskrcnn_coco.py']

pretrained = 'work_dirs/tinymim_vit-t.safetensors'
model = dict(
    backbone=dict(arch='tinymim-t', init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(backbone_channel=192, in_channels=[48, 96, 192, 192]))
