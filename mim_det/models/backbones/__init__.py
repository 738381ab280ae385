"""mim_det models/backbones: components register here as they land (see mim_det.registry)."""
