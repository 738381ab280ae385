# Tiny ViTDet Mask R-CNN on the embedded COCO-format data (python tools/generate_data.py), for a
# laptop CPU: fine-tunes the 4-layer 128-d ViT (patch 8) that configs/lomar/pretrain_tiny_embedded.py
# pretrains, through the same code path as lomar_maskrcnn_coco.py (PlainViT with window attention,
# simple feature pyramid, Mask R-CNN with LayerNorm heads, layer-wise lr decay, large-scale
# jitter) at 256 px; the shared tiny parts are the _base_ file below, this file adds LoMaR's
# position handling and checkpoint.
#   python tools/train.py configs/lomar/pretrain_tiny_embedded.py --work-dir work_dirs/lomar_tiny
#   python tools/export_backbone.py work_dirs/lomar_tiny/iter_1500.pth work_dirs/lomar_tiny/backbone.safetensors
#   python tools/train.py configs/vitdet/lomar_maskrcnn_tiny_embedded.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/lomar_tiny/backbone.safetensors
#   python tools/test.py configs/vitdet/lomar_maskrcnn_tiny_embedded.py \
#       work_dirs/lomar_maskrcnn_tiny_embedded/iter_1200.pth
_base_ = ['../_base_/vitdet_tiny_embedded.py']
default_scope = 'mmdet'

pretrained = 'work_dirs/lomar_tiny/backbone.safetensors'
model = dict(
    backbone=dict(
        use_abs_pos=False,
        # LoMaR's contextual tables only (no decomposed tables: the paper configs add them; this
        # tiny recipe was measured without)
        rel_pos_cfgs=[dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)],
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
