# LoMaR ViT-B/16 on ImageNet-1k with the official window placement: the reproduction config of
# the published 84.1 top-1 (junchen14/LoMaR, 1600 epochs). The official forward_encoder draws the
# M window positions once per batch and, through its tensor ordering, shows each image ONE
# position with M different masks (mim_det WindowSampler, position_mode='official').
# pretrain_in1k.py samples M distinct windows per image, as the paper describes.
#   bash tools/dist_train.sh configs/lomar/pretrain_in1k_official-windows.py 8
_base_ = ['./pretrain_in1k.py']

model = dict(window_sampler=dict(position_mode='official'))
