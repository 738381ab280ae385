# LoMaR / MAE pretraining schedule: AdamW (0.9, 0.95), wd 0.05, lr = 1.5e-4 x 4096 / 256,
# effective batch 4096, per-iteration linear warmup (40 epochs) then cosine to 0, 1600 epochs,
# AMP.
#
# Weight decay: none on norms, biases, cls/mask tokens and the RPE tables (mim_det's choice,
# like mmpretrain's MAE config; junchen14/LoMaR's timm optimizer factory exempts only 1-D
# parameters and biases, so there the tokens and RPE tables decay -- drop the three
# custom_keys below to reproduce that).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    # 8 GPUs x 256 x 2 = 4096. With G GPUs use 4096 / (G x 256): 4 GPUs -> 4, 16 -> 1.
    accumulative_counts=2,
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'ln': dict(decay_mult=0.0),
            'bias': dict(decay_mult=0.0),
            'cls_token': dict(decay_mult=0.0),
            'mask_token': dict(decay_mult=0.0),
            'rpe_k': dict(decay_mult=0.0),
        }))

warmup_epochs = 40
max_epochs = 1600
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

# lr above is for an effective batch of 4096; tools/train.py --auto-scale-lr rescales it for
# GPUs x batch_size x accumulative_counts.
auto_scale_lr = dict(base_batch_size=4096)
