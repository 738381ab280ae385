# Fine-tuning of a tiny ViT export on the embedded labelled one-object images, the "fine-tuned"
# half of the frozen-vs-fine-tuned comparison beside vit-tiny-p8_linear-probe_embedded.py: the
# same model, data, epochs and evaluation, with every weight trained by MAE's fine-tuning recipe
# scaled to 240 steps: AdamW lr 1e-3, betas (0.9, 0.999), wd 0.05 (none on 1-D parameters,
# pos_embed, cls_token), layer decay 0.75, drop path 0.1, label smoothing 0.1, 3 warm-up epochs
# then cosine. MAE's RandAugment, Mixup / CutMix and random erasing are left out: they slow
# convergence far beyond 240 steps, and the probe trains without them too.
#   python tools/train.py configs/linear_probe/vit-tiny-p8_finetune_embedded.py --test \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/mae_tiny/backbone.safetensors
_base_ = ['../_base_/vit-tiny-p8_classify_embedded.py']

warmup_epochs = 3
model = dict(
    backbone=dict(drop_path_rate=0.1),
    head=dict(
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(std=2e-5)))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.75,
        flat_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    # T_max defaults to end - begin
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs,
         end={{_base_.max_epochs}}, eta_min=1e-6, convert_to_iter_based=True),
]
