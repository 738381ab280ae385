# ImageNet-1k fine-tuning of a LoMaR ViT-B/16 (mmpretrain ImageClassifier), the MAE/LoMaR recipe
# (junchen14/LoMaR main_finetune_lomar.py): the relative-position ViT (cls token, contextual RPE on
# keys, no absolute position) as mim_det's PlainViT -- no mask token or any other pretraining-only
# parameter, so DDP trains it with find_unused_parameters=False -- global average pooling +
# LayerNorm, linear head (trunc-normal std 2e-5), batch 1024 (8 x 128), AdamW lr 2e-3
# (5e-4 x 1024 / 256), betas (0.9, 0.999), wd 0.05, layer decay 0.65, drop path 0.1, 5 warmup + 95
# cosine epochs, RandAugment m9, label smoothing 0.1, Mixup 0.8 / CutMix 1.0, random erasing 0.25,
# AMP. Weight decay as the official util/lr_decay.py: none on 1-D parameters, pos_embed and
# cls_token; the RPE tables are decayed. Data pipeline, augmentation and schedule come from
# mmpretrain's MAE fine-tuning config.
#   bash tools/dist_train.sh configs/lomar/finetune_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=PATH/TO/export.safetensors
_base_ = ['mmpretrain::mae/benchmarks/vit-base-p16_8xb128-coslr-100e_in1k.py']
custom_imports = dict(imports=['mim_det', 'mim_det.downstream'], allow_failed_imports=False)
default_scope = 'mmpretrain'

pretrained = 'work_dirs/pretrain_in1k/lomar_vit-b16_in1k.safetensors'
model = dict(
    backbone=dict(
        _delete_=True,
        type='PlainViT',
        arch='b',
        img_size=224,
        patch_size=16,
        with_cls_token=True,
        use_abs_pos=False,
        rel_pos_cfgs=[dict(type='ContextualRPE', alpha=1.9, beta=3.8, gamma=15.2)],
        window_size=0,
        global_attn_indexes=(),
        drop_path_rate=0.1,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
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
