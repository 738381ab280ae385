# SimMIM ViT-B pretraining schedule, microsoft/SimMIM
# configs/vit_base__800ep/simmim_pretrain__vit_base__img224__800ep.yaml on top of config.py:
#   TRAIN.EPOCHS 800, WARMUP_EPOCHS 10, BASE_LR 1e-4, WARMUP_LR 5e-7, WEIGHT_DECAY 0.05,
#   LR_SCHEDULER multistep, GAMMA 0.1, MULTISTEPS [700]; OPTIMIZER adamw, EPS 1e-8,
#   BETAS (0.9, 0.999); CLIP_GRAD 5.0.
# main_simmim.py scales linearly: lr = BASE_LR * DATA.BATCH_SIZE * world_size / 512 (and the
# warm-up lr alike), so 16 GPUs x 128 = 2048 gives lr 4e-4 and warm-up lr 2e-6; the timm-style
# scheduler steps per iteration (t_in_epochs=False): linear warm-up from the warm-up lr over 10
# epochs, then x0.1 from epoch 700. LinearLR's start_factor 5e-7 / 1e-4 = 0.005 is the same ratio.
#
# Weight decay as the official get_pretrain_param_groups: none on 1-D parameters (norms, layer
# scale), on names ending in ".bias" (all 1-D here) and on the encoder's no_weight_decay()
# {'pos_embed', 'cls_token'}. VisionTransformerForSimMIM adds nothing to that set and has no
# no_weight_decay_keywords, so the mask token and the shared relative position table ARE decayed
# in the official ViT run (the Swin variant exempts both). To exempt them, add
# 'mask_token' and 'relative_position_bias_table' with decay_mult=0. to custom_keys.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4 * 2048 / 512, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(
        flat_decay_mult=0.0,
        custom_keys={
            'cls_token': dict(decay_mult=0.0),
            'pos_embed': dict(decay_mult=0.0),
        }))

warmup_epochs = 10
max_epochs = 800
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=5e-7 / 1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    # milestones count from the start of training (epoch 700), as the official scheduler's
    dict(
        type='MultiStepLR',
        milestones=[700],
        gamma=0.1,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

# the lr above is for a total batch of 2048; tools/train.py --auto-scale-lr rescales it for
# GPUs x batch_size x accumulative_counts (the official rule is linear too)
auto_scale_lr = dict(base_batch_size=2048)
