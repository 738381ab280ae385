# TinyMIM's distillation schedule (Ren et al. CVPR 2023, Sec. 4.1; OliverRensu/TinyMIM
# main_distill.py): 300 epochs, effective batch 4096, base lr 1.5e-4 scaled linearly,
# lr = 1.5e-4 x 4096 / 256 = 2.4e-3, AdamW (0.9, 0.95), weight decay 0.05 (none on norms, biases,
# the cls token and the position table), 15 warm-up epochs then cosine to 0, per iteration,
# mixed precision.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95),
                   weight_decay=0.05),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={'cls_token': dict(decay_mult=0.), 'pos_embed': dict(decay_mult=0.)}))

warmup_epochs = 15
max_epochs = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=0.,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# a run on fewer GPUs keeps lr / batch with --auto-scale-lr
auto_scale_lr = dict(base_batch_size=4096)
