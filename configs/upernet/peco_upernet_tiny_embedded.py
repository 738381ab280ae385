# The tiny UperNet from a tiny PeCo export (configs/peco/peco_vit-tiny-p8_embedded.py):
# SimMIM's tiny recipe (upernet/simmim_upernet_tiny_embedded.py; same encoder layout: shared
# relative
# position table, layer scale, no absolute position) with this checkpoint. The main job uses
# the SimMIM config with the export on the command line.
_base_ = ['./simmim_upernet_tiny_embedded.py']

pretrained = 'work_dirs/peco_tiny/backbone.safetensors'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
