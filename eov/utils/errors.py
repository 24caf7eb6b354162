"""Error types raised by several rooms (defined once, at the bottom of the layers)."""


class RecordError(ValueError):
    """A record breaks the schema; the message names the file, line and key."""
