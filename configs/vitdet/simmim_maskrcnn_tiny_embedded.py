# Tiny ViTDet Mask R-CNN on the embedded COCO-format data (python tools/generate_data.py), for a
# laptop CPU: fine-tunes the 4-layer 128-d ViT (patch 8) that
# configs/simmim/simmim_vit-tiny-p8_embedded.py pretrains, through the same code path as
# simmim_maskrcnn_coco.py, with the same position handling: no absolute position, ViTDet's
# decomposed tables (zero-init) plus per-block RelPosBiasTable tables filled from SimMIM's
# shared table (12 x 12 pretraining grid, resized to the 8 x 8 windows and the 32 x 32 global
# block), layer scale as pretrained.
#   python tools/train.py configs/simmim/simmim_vit-tiny-p8_embedded.py --work-dir work_dirs/simmim_tiny
#   python tools/export_backbone.py work_dirs/simmim_tiny/iter_300.pth work_dirs/simmim_tiny/backbone.safetensors
#   python tools/train.py configs/vitdet/simmim_maskrcnn_tiny_embedded.py
#   python tools/test.py configs/vitdet/simmim_maskrcnn_tiny_embedded.py \
#       work_dirs/simmim_maskrcnn_tiny_embedded/iter_1200.pth
# Another export: --cfg-options model.backbone.init_cfg.checkpoint=PATH (train and test).
_base_ = ['../_base_/vitdet_tiny_embedded.py']
default_scope = 'mmdet'

pretrained = 'work_dirs/simmim_tiny/backbone.safetensors'
model = dict(
    backbone=dict(
        use_abs_pos=False,
        rel_pos_cfgs=[dict(type='DecomposedRelPos'), dict(type='RelPosBiasTable')],
        layer_scale_init_value=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
