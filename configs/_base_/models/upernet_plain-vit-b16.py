# UperNet with a plain ViT-B/16 for semantic segmentation at 512 x 512 (the BEiT/MAE protocol,
# mmseg configs/mae, 48.1 mIoU for MAE ViT-B): mim_det's PlainViT as mmseg's MAE backbone -- the
# cls token kept through the blocks, global attention everywhere, a zero-initialised per-head
# relative position table (BEiT style) in every block, layer scale initialised to 1.0, no final
# norm -- returns the maps of blocks 4, 6, 8 and 12 (stride 16, 768 channels); mmseg's
# Feature2Pyramid turns them into strides 4, 8, 16 and 32; UPerHead decodes, an FCNHead on the
# stride-16 level adds the auxiliary loss. Absolute position and the pretrained checkpoint come
# from the configs that inherit this one (MAE: its table, resized once to the 32 x 32 fine-tuning
# grid and trained there; LoMaR: none, its contextual relative position on keys instead).
# ViTDet-style handling (no cls token, no table) stays an option: with_cls_token=False,
# rel_pos_cfgs=[], layer_scale_init_value=0.
# SyncBN is mmseg's choice for the neck and heads: with one process mmengine's Runner turns it
# back into BatchNorm; multi-process CPU runs (gloo) need plain BN.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='PlainViT',
        arch='b',
        img_size=512,
        patch_size=16,
        with_cls_token=True,
        use_abs_pos=True,
        abs_pos_grid='finetune',
        rel_pos_cfgs=[dict(type='RelPosBiasTable')],
        layer_scale_init_value=1.0,
        window_size=0,
        out_indices=(3, 5, 7, 11),
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        qkv_bias=True,
        norm_cfg=dict(type='LN', eps=1e-6),
        final_norm=False),
    neck=dict(type='Feature2Pyramid', embed_dim=768, rescales=[4, 2, 1, 0.5], norm_cfg=norm_cfg),
    decode_head=dict(
        type='UPerHead',
        in_channels=[768, 768, 768, 768],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=768,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=768,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    # sliding 512 x 512 windows with stride 341 (two thirds overlap in each direction)
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
