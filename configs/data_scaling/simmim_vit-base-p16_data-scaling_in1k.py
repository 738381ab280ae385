# Data scaling in MIM at paper scale (Xie et al., "On Data Scaling in Masked Image Modeling", CVPR
# 2023, arXiv 2206.04664, Sec. 3): SimMIM (configs/simmim/simmim_vit-base-p16_16xb128-amp-800e_in1k.py,
# the official ViT-B recipe) on a seeded fraction of ImageNet-1K train, with the MIM loss of the
# ImageNet-1K VALIDATION images (the paper's proxy, Sec. 4.3) logged every 5000 iterations beside
# the training loss. The paper's models are SwinV2 (49M-1B parameters); this config keeps the
# toolkit's plain-ViT SimMIM (model.backbone.arch='l' for ViT-L).
#   bash tools/dist_train.sh configs/data_scaling/simmim_vit-base-p16_data-scaling_in1k.py 16 \
#       --cfg-options train_dataloader.dataset.fraction=0.1
# (python tools/analysis/data_scaling.py --imagenet prints the whole grid)
_base_ = ['../simmim/simmim_vit-base-p16_16xb128-amp-800e_in1k.py']

# nested seeded subsets (10 / 20 / 50 / 100 %); nothing held out of train: the val split is the
# held-out set
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='FractionSubset',
        fraction=1.0,
        num_heldout=0,
        seed=0,
        dataset={{_base_.train_dataloader.dataset}}))

# the training pipeline (crops, 32-px masks at 0.6) on the 50k val images, with fixed seeds; each
# rank takes its shard and the sums are reduced
heldout = dict(type='ImageNet', data_root='data/imagenet/', split='val',
               pipeline={{_base_.train_pipeline}})
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='ValidationMIMLossHook', interval=5000, dataset=heldout, batch_size=128,
         num_workers=8, seed=0),
]
