"""ValueLex's value taxonomy (Biedma et al., 2024): three dimensions of two subdimensions each.

Competence (``self_competent``, ``user_oriented``), Character (``social``, ``idealistic``) and Integrity
(``professional``, ``ethical``). The lexicon study elicits and profiles against it; the projective scorer
scores completions on it.
"""

from __future__ import annotations

SUBDIMENSIONS: tuple[str, ...] = (
    "self_competent",
    "user_oriented",
    "social",
    "idealistic",
    "professional",
    "ethical",
)
DIMENSIONS: dict[str, tuple[str, str]] = {
    "competence": ("self_competent", "user_oriented"),
    "character": ("social", "idealistic"),
    "integrity": ("professional", "ethical"),
}
DIMENSION_OF: dict[str, str] = {sub: dim for dim, subs in DIMENSIONS.items() for sub in subs}
"""The dimension each subdimension belongs to."""
