# LoMaR / MAE pretraining schedule: AdamW (0.9, 0.95), wd 0.05, lr = 1.5e-4 x 4096 / 256,
# effective batch 4096, per-iteration linear warmup (40 epochs) then cosine to 0, 1600 epochs,
# AMP.
#
# Weight decay as the official code (junchen14/LoMaR main_pretrain_lomar.py, timm's
# add_weight_decay): none on 1-D parameters (norm weights, biases); the cls and mask tokens and
# the contextual RPE tables (1, d, 50) ARE decayed.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    # 8 GPUs x 256 x 2 = 4096. With G GPUs use 4096 / (G x 256): 4 GPUs -> 4, 16 -> 1.
    accumulative_counts=2,
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05),
    paramwise_cfg=dict(flat_decay_mult=0.0))

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
