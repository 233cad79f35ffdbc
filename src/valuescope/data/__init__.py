"""Data the studies read: loaders for third-party sets (ValueBench, ValuePortrait, Flames, Social-Chem,
MoralStrength) and user CSV/TSV with their input checks, the shared vocabularies (Schwartz values,
ValueLex, everyday queries, neutral reference text) and the package's own data files."""
