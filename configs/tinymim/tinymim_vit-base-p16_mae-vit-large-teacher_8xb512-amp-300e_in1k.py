# TinyMIM (Ren et al., CVPR 2023, arXiv 2301.01296; OliverRensu/TinyMIM): ViT-B/16 distilled from
# MAE's ViT-L/16 through token relations, the first step of the sequential chain L -> B -> S -> T.
# The teacher (frozen, eval mode) is read by mim_det's one loader: the official MAE file
# mae_pretrain_vit_large.pth, an mmpretrain MAE checkpoint or a mim_det export; the targets are
# the relations of block 18 of its 24 (paper Table 6: an intermediate block beats the last when
# the depths differ); the student's last block attends with the teacher's 16 heads
# (the official last_heads) so the 16 x 197 x 197 maps match. Recipe as the paper (Sec. 4.1):
# 300 epochs, batch 4096, base lr 1.5e-4, AdamW (0.9, 0.95), wd 0.05, 15 warm-up epochs, cosine,
# drop path 0.1, no masking; the student's view adds ColorJitter(0.4, 0.4, 0.4) to the shared crop.
#   bash tools/dist_train.sh configs/tinymim/tinymim_vit-base-p16_mae-vit-large-teacher_8xb512-amp-300e_in1k.py 8
#   python tools/export_backbone.py work_dirs/<this config>/epoch_300.pth tinymim_vit-b.safetensors
# The chain continues with tinymim_vit-small-p16_..., then tinymim_vit-tiny-p16_... (README, TinyMIM).
_base_ = [
    '../_base_/datasets/imagenet_tinymim.py',
    '../_base_/schedules/tinymim_adamw_300e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmpretrain'

teacher_checkpoint = 'checkpoints/mae_pretrain_vit_large.pth'
model = dict(
    type='TinyMIM',
    backbone=dict(type='TinyMIMViT', arch='b', img_size=224, patch_size=16, last_heads=16,
                  drop_path_rate=0.1),
    target_generator=dict(
        type='PlainViT', arch='l', img_size=224, pretrain_img_size=224, patch_size=16,
        with_cls_token=True, use_abs_pos=True, window_size=0, global_attn_indexes=(),
        drop_path_rate=0., init_cfg=dict(type='Pretrained', checkpoint=teacher_checkpoint)),
    teacher_block=17,
    target='relation',
    data_preprocessor={{_base_.data_preprocessor}})
# the student's last block is used up to its attention's q, k, v only (its projection and MLP,
# and the final norm, get no gradient), as the official code
find_unused_parameters = True

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=10, by_epoch=True, max_keep_ckpts=3))
log_processor = dict(window_size=10, by_epoch=True)
