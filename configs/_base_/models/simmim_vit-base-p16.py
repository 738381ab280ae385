# SimMIM with a ViT-B/16 encoder (Xie et al., CVPR 2022), as microsoft/SimMIM
# configs/vit_base__800ep/simmim_pretrain__vit_base__img224__800ep.yaml builds it
# (models/simmim.py VisionTransformerForSimMIM + SimMIM): the encoder sees every token, masked
# patch embeddings replaced by the learned mask token; no absolute position (USE_APE: False),
# one BEiT relative position bias table shared by all blocks (USE_SHARED_RPB: True, USE_RPB:
# False), layer scale 0.1 (INIT_VALUES), qkv bias (QKV_BIAS: True), drop path 0.1
# (DROP_PATH_RATE), LayerNorm eps 1e-6, final norm (USE_MEAN_POOLING: False); the patch tokens
# (cls dropped) as a stride-16 map -> 1x1 conv to 16*16*3 + PixelShuffle(16) (encoder_stride 16)
# -> L1 on the masked pixels, divided by in_chans 3 ((l1 * mask).sum() / mask.sum() / 3).
# Algorithm, decoder, head and loss are mmpretrain's; SimMIMViT is mim_det's.
model = dict(
    type='SimMIM',
    backbone=dict(
        type='SimMIMViT',
        arch='b',
        img_size=224,
        patch_size=16,
        use_abs_pos=False,
        shared_rel_pos_cfg=dict(type='RelPosBiasTable'),
        layer_scale_init_value=0.1,
        qkv_bias=True,
        drop_path_rate=0.1,
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm=True,
        out_type='featmap'),
    neck=dict(type='SimMIMLinearDecoder', in_channels=768, encoder_stride=16),
    head=dict(
        type='SimMIMHead',
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L1', channel=3)),
    # timm's IMAGENET_DEFAULT_MEAN / STD (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) x 255
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True))
