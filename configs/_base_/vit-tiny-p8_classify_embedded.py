# The tiny ViT as an mmpretrain ImageClassifier on the embedded labelled one-object images, the
# shared part of the frozen (linear probe) and fine-tuned protocols of configs/linear_probe/: the
# 4-block 128-d patch-8 ViT of the tiny pretraining configs as mim_det's PlainViT, which loads
# any of their exports (or any checkpoint the shared loader reads) through
# init_cfg=dict(type='Pretrained'), with MAE's position handling (cls token, absolute position
# from the 12 x 12 pretraining grid, global attention); mean-pooled patch tokens of the last
# block through a LayerNorm (out_type='avg_featmap', MAE fine-tuning's global pool + fc_norm);
# one linear layer on them. Both protocols train on the same 120 images for the same 30 epochs
# (240 iterations of batch 16) and test on the same 60, so they differ only in what is trained.
# Other position handling (LoMaR's contextual RPE, SimMIM's tables) is a backbone override:
# tools/analysis/frozen_vs_finetuned.py reads it from an export's metadata.
_base_ = ['./datasets/embedded_classify.py', './default_runtime.py']
default_scope = 'mmpretrain'
custom_imports = dict(imports=['mim_det', 'mim_det.downstream'], allow_failed_imports=False)

pretrained = 'work_dirs/mae_vit-tiny-p8_embedded/backbone.safetensors'
embed_dims, num_classes = 128, 6
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='PlainViT',
        arch=dict(embed_dims=embed_dims, num_layers=4, num_heads=4,
                  feedforward_channels=4 * embed_dims),
        img_size=96,
        patch_size=8,
        pretrain_img_size=96,
        with_cls_token=True,
        use_abs_pos=True,
        rel_pos_cfgs=[],
        window_size=0,
        global_attn_indexes=(),
        out_type='avg_featmap',
        final_norm=False,
        drop_path_rate=0.,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=num_classes,
        in_channels=embed_dims,
        loss=dict(type='CrossEntropyLoss'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=0.01)))

max_epochs = 30
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(
    logger=dict(interval=4),
    checkpoint=dict(interval=max_epochs, by_epoch=True, max_keep_ckpts=1))
log_processor = dict(window_size=4)
randomness = dict(seed=0, deterministic=True)
