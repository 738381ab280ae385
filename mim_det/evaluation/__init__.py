"""mim_det evaluation: components register here as they land (see mim_det.registry)."""
