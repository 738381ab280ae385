# The data-scaling grid of tools/analysis/data_scaling.py on the embedded default data
# (python tools/generate_data.py): fraction of the unlabeled images x model size x pretraining
# length, each cell pretrained with its held-out MIM loss logged, exported, and fine-tuned with the
# tiny UperNet on the embedded ADE20k images (mIoU, the downstream metric of the proxy study).
# Xie et al. (arXiv 2206.04664) use ImageNet-1K fractions 10/20/50/100 %, SwinV2 sizes and
# 125k/250k/500k iterations; `imagenet` below prints the paper-scale commands.
#
# models    name -> pretrain: its data-scaling config (a FractionSubset training set and the
#                  ValidationMIMLossHook), downstream: the fine-tuning config its export fits
# fractions the training fractions (of the 2700-image pool; 300 images are held out)
# iters     the pretraining lengths; length_options set a run's length (formatted with {iters}
#           and {cosine_iters} = iters - warmup_iters), the same for every model
models = dict(
    tiny=dict(pretrain='configs/data_scaling/mae_vit-tiny-p8_data-scaling_embedded.py',
              downstream='configs/upernet/mae_upernet_tiny_embedded.py'),
    small=dict(pretrain='configs/data_scaling/mae_vit-small-p8_data-scaling_embedded.py',
               downstream='configs/data_scaling/mae_upernet_vit-small-p8_embedded.py'),
)
fractions = [0.1, 0.2, 0.5, 1.0]
iters = [1000, 4000]
warmup_iters = 40
length_options = ['train_cfg.max_iters={iters}', 'param_scheduler.1.T_max={cosine_iters}',
                  'param_scheduler.1.end={iters}', 'default_hooks.checkpoint.interval={iters}']
# the main job's UperNet schedule (configs/comparison/tiny_embedded.py: finetune_options)
downstream_options = ['train_cfg.max_iters=600', 'param_scheduler.1.end=600',
                      'default_hooks.checkpoint.interval=600']
downstream_metric = 'mIoU'

# Paper scale (printed by --imagenet): SimMIM ViT-B/16 on ImageNet-1K fractions, held-out loss on
# the ImageNet val images, then the ImageNet fine-tuning of configs/simmim (a user runs these on
# a cluster).
imagenet = dict(
    pretrain='configs/data_scaling/simmim_vit-base-p16_data-scaling_in1k.py',
    fractions=[0.1, 0.2, 0.5, 1.0],
    epochs=[100, 300, 800],
    gpus=16)
