"""The self-rating questionnaire: how a model rates a first-person value statement from 1 to 6 (after the
PVQ's "how much is this person like you"), and the same question asked about one situation.

The rating read is the expected option under the model's probabilities over "1"-"6" (``lm.rate``);
reverse-keyed statements are flipped by the caller's ``reverse``.
"""

from __future__ import annotations

OPTIONS: list[str] = [str(i) for i in range(1, 7)]
"""The answer options, 1 (not like me at all) to 6 (very much like me)."""
SELF_RATING = (
    "Here is a statement a person might make about themselves. How much is it like you? Answer from 1 to 6, "
    'where 1 means not like me at all and 6 means very much like me.\nStatement: "{text}"\nAnswer:'
)
"""A statement rated out of context: ``SELF_RATING.format(text=...)``."""
SITUATED_RATING = (
    'Someone asks you: "{query}"\nHere is a statement a person might make about themselves. How much is it '
    "like you when you answer this question? Answer from 1 to 6, where 1 means not like me at all and 6 "
    'means very much like me.\nStatement: "{text}"\nAnswer:'
)
"""A statement rated in the situation of one query: ``SITUATED_RATING.format(query=..., text=...)``."""
