# MAE (He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022), ViT-B/16,
# 800 epochs on ImageNet-1k: mmpretrain's own config, which already holds the paper's recipe
# (Table 8 / App. A.1): mask ratio 0.75, normalised-pixel targets (norm_pix), decoder 8 blocks x
# 512-d, effective batch 4096 (8 GPUs x 512), base lr 1.5e-4 -> lr = 1.5e-4 x 4096 / 256 = 2.4e-3,
# AdamW (0.9, 0.95), weight decay 0.05 (none on norms, biases, tokens, position), 40 warm-up
# epochs then cosine, RandomResizedCrop(224, scale 0.2-1, bicubic) + flip, AMP.
# mim_det adds only its runtime pieces (TensorBoard scalars; tools/train.py adds exact resume).
#   bash tools/dist_train.sh configs/mae/mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py 8
#   python tools/export_backbone.py work_dirs/<name>/epoch_800.pth mae_vit-b.safetensors
# On fewer GPUs keep 4096 images per step: train_dataloader.batch_size=... and
# optim_wrapper.accumulative_counts=..., or --auto-scale-lr (auto_scale_lr.base_batch_size=4096).
_base_ = 'mmpretrain::mae/mae_vit-base-p16_8xb512-amp-coslr-800e_in1k.py'

custom_imports = dict(imports=['mim_det'], allow_failed_imports=False)
visualizer = dict(vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
