"""Studies: the protocol every study follows (``protocol``), the registry by name (``valuescope studies``)
and one package per built-in study: its config, stimuli, math, steps, findings and figures."""
