"""``sqlalchemy.dialects``: the dialect type modules (``mysql``, ``postgresql``, ``sqlite``)."""

__path__ = []
