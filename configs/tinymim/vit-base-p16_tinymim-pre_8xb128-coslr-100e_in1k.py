# ImageNet-1k fine-tuning of a TinyMIM ViT-B/16 student export (mmpretrain ImageClassifier), the
# MAE fine-tuning recipe TinyMIM follows with its own values for B (Ren et al. 2023, Sec. 4.1;
# OliverRensu/TinyMIM main_finetune.py): base lr 5e-4 (lr = 5e-4 x 1024 / 256 = 2e-3), layer
# decay 0.65, drop path 0.2, 100 epochs (5 warm-up), batch 1024 (8 x 128), AdamW (0.9, 0.999),
# wd 0.05, RandAugment m9, label smoothing 0.1, Mixup 0.8 / CutMix 1.0, random erasing 0.25, AMP;
# global average pooling + LayerNorm and a linear head. The student's fixed sin-cos table is
# loaded into a trainable absolute table (as MAE fine-tuning); every block attends with the
# student's own head count (the last block's parameters do not depend on it). Paper: 85.0 top-1.
#   bash tools/dist_train.sh configs/tinymim/vit-base-p16_tinymim-pre_8xb128-coslr-100e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/tinymim_vit-b.safetensors
_base_ = ['mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py']
custom_imports = dict(imports=['mim_det', 'mim_det.downstream'], allow_failed_imports=False)
default_scope = 'mmpretrain'

pretrained = 'work_dirs/tinymim_vit-b.safetensors'
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainViT',
        arch='b',
        img_size=224,
        pretrain_img_size=224,
        patch_size=16,
        with_cls_token=True,
        use_abs_pos=True,
        window_size=0,
        global_attn_indexes=(),
        drop_path_rate=0.2,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(lr=5e-4 * 1024 / 256),
    paramwise_cfg=dict(
        _delete_=True,
        layer_decay_rate=0.65,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
        }))
auto_scale_lr = dict(base_batch_size=1024)
custom_hooks = [dict(type='RNGStateHook')]
