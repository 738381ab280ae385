# Tiny UperNet on the embedded ADE20k-format data (python tools/generate_data.py), fine-tuned from
# the tiny SimMIM backbone of configs/simmim/simmim_vit-tiny-p8_embedded.py (4 blocks, 128-d,
# patch 8, pretrained at 96 px), through the same code path as simmim_upernet_ade20k.py and with
# its position handling: the BEiT protocol's cls token and per-block RelPosBiasTable tables,
# filled from SimMIM's shared table (12 x 12 grid resized to the 16 x 16 crops), no absolute
# position, layer scale as pretrained.
#   python tools/train.py configs/simmim/simmim_vit-tiny-p8_embedded.py --work-dir work_dirs/simmim_tiny
#   python tools/export_backbone.py work_dirs/simmim_tiny/iter_300.pth \
#       work_dirs/simmim_tiny/backbone.safetensors
#   python tools/train.py configs/upernet/simmim_upernet_tiny_embedded.py
#   python tools/test.py configs/upernet/simmim_upernet_tiny_embedded.py \
#       work_dirs/simmim_upernet_tiny_embedded/iter_800.pth
# Another export: --cfg-options model.backbone.init_cfg.checkpoint=PATH (train and test).
_base_ = ['../_base_/upernet_tiny_embedded.py']

pretrained = 'work_dirs/simmim_tiny/backbone.safetensors'
model = dict(
    backbone=dict(
        with_cls_token=True,
        use_abs_pos=False,
        rel_pos_cfgs=[dict(type='RelPosBiasTable')],
        layer_scale_init_value=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
