# Optical RGB only (the built-in grounding default). The model builds one input
# adapter per entry of `modalities`; add entries (or use modalities/all.py) for more.
modalities = dict(optical=dict(type='optical', image_size='${image_size}'))
