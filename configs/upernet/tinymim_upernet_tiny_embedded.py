# Tiny UperNet fine-tuned from a tiny TinyMIM student export on the embedded ADE20k data (CPU):
# the tiny MAE recipe (mae_upernet_tiny_embedded.py: absolute table resized from the 12 x 12
# pretraining grid) on the student's smaller ViT (4 blocks, 96-d, 3 heads), the neck and heads'
# inputs narrowed to match. Without a checkpoint (model.backbone.init_cfg=None) it is the
# student's from-scratch twin in the comparison table.
#   python tools/train.py configs/upernet/tinymim_upernet_tiny_embedded.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/tinymim_tiny/backbone.safetensors
_base_ = ['./mae_upernet_tiny_embedded.py']

embed_dims = 96
pretrained = 'work_dirs/tinymim_vit-tiny-p8_mae-teacher_embedded/backbone.safetensors'
model = dict(
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=3,
                  feedforward_channels=4 * embed_dims),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(embed_dim=embed_dims),
    decode_head=dict(in_channels=[embed_dims] * 4),
    auxiliary_head=dict(in_channels=embed_dims))
