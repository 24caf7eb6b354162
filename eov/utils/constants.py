"""Constants shared by data, processing and the model (one home, no import cycle)."""

#: The placeholder a conversation turn writes where an image goes.
IMAGE_PLACEHOLDER = '<image>'
#: Label of tokens that carry no loss (prompt, padding).
IGNORE_INDEX = -100
