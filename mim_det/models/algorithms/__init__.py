"""mim_det models/algorithms: components register here as they land (see mim_det.registry)."""
