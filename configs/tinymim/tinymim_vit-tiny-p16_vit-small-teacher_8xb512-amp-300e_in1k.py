# TinyMIM ViT-T/16 (192-d, 12 blocks, 6 heads: TinyMIM's tiny, not DeiT-T's 3 heads) distilled
# from the TinyMIM ViT-S of the previous step, the last step of the sequential chain L -> B -> S
# -> T. The teacher's last block (a plain 6-head ViT-S) gives the targets, so the student's last
# block keeps its own 6 heads. Recipe as the B step.
#   python tools/export_backbone.py work_dirs/tinymim_vit-small-p16_vit-base-teacher_8xb512-amp-300e_in1k/epoch_300.pth \
#       work_dirs/tinymim_vit-s.safetensors
#   bash tools/dist_train.sh configs/tinymim/tinymim_vit-tiny-p16_vit-small-teacher_8xb512-amp-300e_in1k.py 8
_base_ = './tinymim_vit-base-p16_mae-vit-large-teacher_8xb512-amp-300e_in1k.py'

teacher_checkpoint = 'work_dirs/tinymim_vit-s.safetensors'
model = dict(
    backbone=dict(arch='tinymim-t', last_heads=6),
    target_generator=dict(arch='deit-s', init_cfg=dict(checkpoint=teacher_checkpoint)),
    teacher_block=-1)
