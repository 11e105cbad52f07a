"""sigbot: the coordination bot of an open-source special-interest group."""

__version__ = "0.1.0"
