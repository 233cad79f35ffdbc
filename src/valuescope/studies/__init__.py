"""Built-in studies; importing this package registers them (see ``valuescope studies``)."""

from valuescope.studies import readout_check

__all__ = ["readout_check"]
