# Data scaling in MIM at CPU scale (Xie et al., "On Data Scaling in Masked Image Modeling", CVPR
# 2023, arXiv 2206.04664): the tiny MAE of the main job (configs/mae/mae_vit-tiny-p8_embedded.py:
# 4 blocks, 128-d, patch 8, 96 px) on a seeded fraction of the embedded unlabeled images, with the
# MIM loss of 300 held-out images (never in any fraction) logged beside the training loss.
# tools/analysis/data_scaling.py runs the grid (fraction x model size x length); one cell:
#   python tools/train.py configs/data_scaling/mae_vit-tiny-p8_data-scaling_embedded.py \
#       --cfg-options train_dataloader.dataset.fraction=0.1
# The paper pretrains SimMIM; MAE is the grid's default here because its tiny step is about twice
# as fast on a CPU (configs/data_scaling/grid_embedded.py: `method`), and the hook and subsets
# work for every mim_det MIM method.
_base_ = ['../mae/mae_vit-tiny-p8_embedded.py']

# nested seeded subsets of the 2700-image training pool; the same 300 images held out for every
# fraction (mim_det/datasets/subset.py)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='FractionSubset',
        fraction=1.0,
        num_heldout=300,
        seed=0,
        dataset={{_base_.train_dataloader.dataset}}))

# the held-out MIM loss every 250 iterations and at the start, fixed crops and masks, in eval mode
# (mim_det/engine/hooks/validation_mim_loss_hook.py)
custom_hooks = [
    dict(type='RNGStateHook'),
    dict(type='ValidationMIMLossHook', interval=250, batch_size=50, seed=0),
]
