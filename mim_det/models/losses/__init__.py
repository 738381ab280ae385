"""mim_det models/losses: components register here as they land (see mim_det.registry)."""
