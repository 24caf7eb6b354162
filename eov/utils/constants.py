"""Constants shared by data, processing and the model (one home, no import cycle)."""

#: The placeholder a conversation turn writes where an image goes.
IMAGE_PLACEHOLDER = '<image>'
#: Label of tokens that carry no loss (prompt, padding).
IGNORE_INDEX = -100
#: What an image path should name (the wording of errors about one).
IMAGE_EXPECTED = 'an image file (GeoTIFF, JP2, PNG, JPEG ...)'
