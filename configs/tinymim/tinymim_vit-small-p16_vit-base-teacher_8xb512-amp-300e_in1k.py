# TinyMIM ViT-S/16 (DeiT-S sizes: 384-d, 12 blocks, 6 heads) distilled from the TinyMIM ViT-B of
# the previous step (its export), the second step of the sequential chain (paper Sec. 3.4: L -> B
# -> S beats distilling L into S directly). The targets are the relations of the teacher's last
# block, read as a plain 12-head ViT-B, so the student's last block attends with 12 heads (the
# official last_heads for a ViT-B teacher). Recipe as the B step.
#   python tools/export_backbone.py work_dirs/tinymim_vit-base-p16_mae-vit-large-teacher_8xb512-amp-300e_in1k/epoch_300.pth \
#       work_dirs/tinymim_vit-b.safetensors
#   bash tools/dist_train.sh configs/tinymim/tinymim_vit-small-p16_vit-base-teacher_8xb512-amp-300e_in1k.py 8
_base_ = './tinymim_vit-base-p16_mae-vit-large-teacher_8xb512-amp-300e_in1k.py'

teacher_checkpoint = 'work_dirs/tinymim_vit-b.safetensors'
model = dict(
    backbone=dict(arch='deit-s', last_heads=12),
    target_generator=dict(arch='b', init_cfg=dict(checkpoint=teacher_checkpoint)),
    teacher_block=-1)
