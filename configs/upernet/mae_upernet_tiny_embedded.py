# Tiny UperNet fine-tuned from a tiny MAE export on the embedded ADE20k data (CPU): MAE's
# absolute position table (resized from the 12 x 12 pretraining grid), the tiny schedule.
# Without a checkpoint (model.backbone.init_cfg=None) it is the from-scratch twin of the
# comparison table (tools/compare_methods.py).
#   python tools/train.py configs/upernet/mae_upernet_tiny_embedded.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mae_tiny/backbone.safetensors
_base_ = ['../_base_/upernet_tiny_embedded.py']

pretrained = 'work_dirs/mae_vit-tiny-p8_embedded/backbone.safetensors'
model = dict(
    backbone=dict(
        use_abs_pos=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
