# Tiny ViTDet Mask R-CNN fine-tuned from a tiny MAE export on the embedded COCO data (CPU): the
# paper config's position handling (MAE's absolute table, resized from the 12 x 12 pretraining
# grid, plus ViTDet's zero-initialised decomposed relative position), the tiny schedule.
# Without a checkpoint (model.backbone.init_cfg=None) it is the from-scratch twin of the
# comparison table (tools/compare_methods.py).
#   python tools/train.py configs/vitdet/mae_maskrcnn_tiny_embedded.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mae_tiny/backbone.safetensors
_base_ = ['../_base_/vitdet_tiny_embedded.py']
default_scope = 'mmdet'

pretrained = 'work_dirs/mae_vit-tiny-p8_embedded/backbone.safetensors'
model = dict(
    backbone=dict(
        use_abs_pos=True,
        rel_pos_cfgs=[dict(type='DecomposedRelPos')],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
