"""Studies: the protocol every study follows, the summary-metric contract, the registry by name
(``valuescope studies``) and the built-in studies."""
