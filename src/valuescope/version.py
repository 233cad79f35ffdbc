"""The installed version of valuescope."""

__version__ = "0.1.0"
