# MSCN ladder step 9 (Jing et al., arXiv 2206.07700; paper linear probe: 67.4 top-1): + multiple
# masked views: branch B gives two masked views, each paired with branch A's view. This is the
# full MSCN recipe, exactly ../mscn_resnet50_16xb256-lars-100e_in1k.py.
_base_ = ['../mscn_resnet50_16xb256-lars-100e_in1k.py']
