"""Instruments that turn text into value scores: sentence embeddings, the value labeller, the projective
scorer and the pairwise judge, each checkable against human labels."""
