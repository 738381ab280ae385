# SimMIM ViT-B/16 pretraining on ImageNet-1k, the paper's recipe (Xie et al., CVPR 2022; 83.8
# top-1 after fine-tuning), microsoft/SimMIM
# configs/vit_base__800ep/simmim_pretrain__vit_base__img224__800ep.yaml: 224 px, random masking
# of 32-px cells at ratio 0.6 (30 of 49 cells), upsampled to the 16-px patch grid; batch 2048 =
# 16 GPUs x 128 (DATA.BATCH_SIZE 128); 800 epochs, AMP (main_simmim.py --amp-opt-level O1).
#   bash tools/dist_train.sh configs/simmim/simmim_vit-base-p16_16xb128-amp-800e_in1k.py 16
# With fewer GPUs keep the total batch with optim_wrapper.accumulative_counts, or add
# --auto-scale-lr. Export the backbone afterwards:
#   python tools/export_backbone.py work_dirs/simmim_vit-base-p16_16xb128-amp-800e_in1k/epoch_800.pth \
#       checkpoints/simmim_vit-b16.safetensors
_base_ = [
    '../_base_/models/simmim_vit-base-p16.py',
    '../_base_/schedules/simmim_adamw_800e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmpretrain'

# ImageNet-1k in mmpretrain's layout: data/imagenet/train/<wnid>/*.JPEG and meta/train.txt.
# data/data_simmim.py SimMIMTransform: RandomResizedCrop(224, scale=(0.67, 1.), ratio=(3/4, 4/3))
# (torchvision on PIL images, bilinear), RandomHorizontalFlip, ImageNet normalisation (the data
# preprocessor), MaskGenerator(input_size 224, mask_patch_size 32, model_patch_size 16,
# mask_ratio 0.6). PackInputs puts the mask into data_sample.mask (a default key).
img_size = 224
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.67, 1.0),
         aspect_ratio_range=(3. / 4., 4. / 3.), backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='SimMIMMaskGenerator', input_size=img_size, mask_patch_size=32,
         model_patch_size=16, mask_ratio=0.6),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=8,  # DATA.NUM_WORKERS
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='ImageNet', data_root='data/imagenet/', split='train',
                 pipeline=train_pipeline))

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),  # PRINT_FREQ
    checkpoint=dict(type='CheckpointHook', interval=5, by_epoch=True,  # SAVE_FREQ
                    max_keep_ckpts=3))
log_processor = dict(window_size=10, by_epoch=True)
env_cfg = dict(dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, diff_rank_seed=True)
