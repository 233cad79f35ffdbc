"""The ten Schwartz basic values: canonical names, circle order, higher-order groups and descriptions.

Names are snake_case (``self_direction``); :func:`canonical_value` maps the spellings of external sources
(ValuePortrait ``Self_Direction``, ValueBench ``Self-Direction``, ``SelfDirection``, any case) onto them.
:data:`SCHWARTZ_VALUES` runs around Schwartz's (1992) circle, so neighbours are compatible values and
values five steps apart conflict; conformity and tradition share one wedge and sit next to each other.
"""

from __future__ import annotations

import re

SCHWARTZ_VALUES: tuple[str, ...] = (
    "self_direction",
    "stimulation",
    "hedonism",
    "achievement",
    "power",
    "security",
    "conformity",
    "tradition",
    "benevolence",
    "universalism",
)

LABELS: dict[str, str] = {
    "self_direction": "Self-Direction",
    "stimulation": "Stimulation",
    "hedonism": "Hedonism",
    "achievement": "Achievement",
    "power": "Power",
    "security": "Security",
    "conformity": "Conformity",
    "tradition": "Tradition",
    "benevolence": "Benevolence",
    "universalism": "Universalism",
}

HIGHER_ORDER: dict[str, tuple[str, ...]] = {
    # Schwartz (1992) places hedonism between openness to change and self-enhancement, sharing both;
    # it is listed under openness here. ValuePortrait's own higher-order scores leave it out of both.
    "openness_to_change": ("self_direction", "stimulation", "hedonism"),
    "self_enhancement": ("achievement", "power"),
    "conservation": ("security", "conformity", "tradition"),
    "self_transcendence": ("benevolence", "universalism"),
}

VALUE_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "self_direction": (
        "Acting on one's own judgement: choosing one's own path, creating new things and exploring ideas.",
        "Thinking for yourself, making your own decisions and following your own curiosity.",
        "Being free to do things your own way, learn what interests you and try out original ideas.",
    ),
    "stimulation": (
        "Seeking a life full of excitement, novelty and challenge.",
        "Seeking adventure, new experiences and a life full of variety rather than routine.",
        "Taking a leap into something unfamiliar and daring, just for the thrill of it.",
    ),
    "hedonism": (
        "Seeking pleasure, enjoyment and gratification of the senses for oneself.",
        "Enjoying life, having fun and treating yourself to good food, comfort and leisure.",
        "Doing what feels good right now and making sure you have a good time.",
    ),
    "achievement": (
        "Succeeding personally by showing a competence that other people recognise and admire.",
        "Being ambitious, working hard to excel and getting recognised for what you accomplish.",
        "Setting high goals, outperforming others and proving how capable you are.",
    ),
    "power": (
        "Gaining status and prestige, and control over other people and over resources.",
        "Having wealth, authority and influence, and being the one who is in charge.",
        "Gaining the upper hand, owning impressive things and having others do what you say.",
    ),
    "security": (
        "Keeping oneself, one's relationships and one's society safe, stable and in harmony.",
        "Staying safe and healthy, avoiding risks and keeping your finances and home secure.",
        "Keeping things orderly and predictable, with a reliable plan for whatever might go wrong.",
    ),
    "conformity": (
        "Restraining actions and impulses that could upset others or break social expectations.",
        "Following the rules, being polite and doing what is expected of you by others.",
        "Holding back so as not to disappoint parents, bosses or neighbours, and fitting in.",
    ),
    "tradition": (
        "Respecting and keeping the customs and beliefs handed down by one's culture or religion.",
        "Keeping family customs, faith and time-honoured ways of doing things alive.",
        "Being humble, content with what you have and loyal to the way things have always been done.",
    ),
    "benevolence": (
        "Looking after the welfare of the people one is close to and deals with every day.",
        "Caring for family and friends, being loyal, honest, forgiving and there for them.",
        "Putting the needs of the people close to you first and helping them however you can.",
    ),
    "universalism": (
        "Understanding, tolerating and protecting the welfare of all people and of the natural world.",
        "Treating everyone fairly, standing up for equality and justice, even for strangers.",
        "Protecting the environment, respecting people unlike yourself and working for peace.",
    ),
}


class UnknownValueError(ValueError):
    """A value name that is not one of the ten Schwartz basic values under any known spelling.

    ``higher_order`` is the canonical higher-order value (``self_enhancement``) the name spells, if any.
    """

    def __init__(self, message: str, higher_order: str | None = None) -> None:
        super().__init__(message)
        self.higher_order = higher_order

    def problem(self, name: str) -> str:
        """A short phrase for a file loader's error: what is wrong with ``name``."""
        if self.higher_order is None:
            return f"{name!r} is not a Schwartz basic value"
        members = ", ".join(HIGHER_ORDER[self.higher_order])
        return f"{name!r} is a higher-order value ({members}), not a basic value"


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


_BY_KEY = {_key(v): v for v in SCHWARTZ_VALUES}
_HIGHER_BY_KEY = {_key(h): h for h in HIGHER_ORDER}


def canonical_value(name: str, source: str = "value name") -> str:
    """The canonical snake_case name of ``name`` (any case; words joined by ``_``, ``-``, space or nothing).

    ``source`` (a file, a column) is named in the :class:`UnknownValueError` raised for an unknown name.
    """
    key = _key(name) if isinstance(name, str) else ""
    if key in _BY_KEY:
        return _BY_KEY[key]
    known = ", ".join(SCHWARTZ_VALUES)
    if key in _HIGHER_BY_KEY:
        higher = _HIGHER_BY_KEY[key]
        raise UnknownValueError(
            f"{source}: {name!r}: higher-order values such as {name.strip()} are not basic values; name one "
            f"of its basic values ({', '.join(HIGHER_ORDER[higher])}) or another of the ten: {known}",
            higher,
        )
    raise UnknownValueError(f"{source}: {name!r} is not a Schwartz basic value; use one of {known}")


def circle_position(value: str) -> int:
    """Index of ``value`` (any spelling) on the circle, 0..9 in :data:`SCHWARTZ_VALUES` order."""
    return SCHWARTZ_VALUES.index(canonical_value(value))


def circular_distance(a: str, b: str) -> int:
    """Steps between two values around the circle: 0 (same) to 5 (opposite)."""
    d = abs(circle_position(a) - circle_position(b))
    return min(d, len(SCHWARTZ_VALUES) - d)
