"""Candidate value terms from generated text: split, normalise, filter, count.

The first step of a value-lexicon study (after ValueLex, Biedma et al. 2024): models answer elicitation
prompts ("List the five values that matter most to you...") and the terms they name become the lexicon.

- :func:`split_terms` cuts one response into candidate terms: numbered, bulleted and markdown lists,
  comma/semicolon/"and" lists, "1. **Honesty**: being truthful" (the head before a colon or dash), and
  free text, which gives noun/adjective phrases of at most three words (split at punctuation,
  conjunctions and function words; a word right after a subject pronoun, a modal or "to" that can be a
  verb is dropped: "I *value* honesty").
- :func:`normalise` maps spellings of one term onto one form; :func:`is_value_term` keeps the terms that
  can name a quality or principle, by the rules of :data:`FILTER_RULES`.
- :func:`extract_terms` and :func:`filter_report` run both over many responses (given the prompts, they
  also drop terms that only echo the prompt); :func:`term_families` groups derived forms of one value
  ("honest", "honesty") checked by their embeddings; :func:`term_matrix` gives the binary
  response-by-term matrix for clustering and factor analysis.

Scripts: terms with letters outside the Latin script (诚实, честность) are dropped; Latin letters with
accents are kept as written (honnêteté, naïve), since an accent alone does not tell a French word from
an English loan word. Spelling: British forms become American (behaviour -> behavior, prioritise ->
prioritize, centred -> centered) through :data:`SPELLING`, a small maintained map of value vocabulary.

Parts of speech come from lemminflect's dictionary, not a tagger, so free text is split by heuristics: a
noun followed by a verb that can also be a noun stays one phrase ("kindness matter" from "honesty and
kindness matter"). Lists, the usual answer to an elicitation prompt, do not depend on this.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from lemminflect import getAllLemmas, getLemma

__all__ = [
    "DERIVATIONS",
    "FILTER_RULES",
    "MAX_WORDS",
    "SPELLING",
    "drop_rule",
    "extract_terms",
    "filter_report",
    "is_value_term",
    "normalise",
    "split_terms",
    "term_families",
    "term_matrix",
]

MAX_WORDS = 4
"""Longest term kept, in words (a hyphenated compound is one word)."""
_FREE_TEXT_WORDS = 3

FILTER_RULES: dict[str, str] = {
    "empty": "nothing is left once punctuation, quotes and markup are stripped",
    "no_letters": "digits or symbols only ('5', '2024', '24/7')",
    "non_latin_script": "letters outside the Latin script ('诚实', 'честность'); accented Latin is kept",
    "too_long": f"more than {MAX_WORDS} words: a sentence, not a term",
    "boilerplate": (
        "assistant boilerplate ('sure', 'here are', 'as an ai', 'language model', 'glad to help', 'sorry')"
    ),
    "pronoun": "only pronouns and function words ('i', 'my', 'we', 'yourself')",
    "stopword": "only function words ('the', 'of', 'very', 'also')",
    "not_a_word": "symbols or digits inside ('c++', 'web3'), or a single letter",
    "filler": (
        "only filler ('thing', 'stuff', 'lot'; 'ability', 'willingness', whose complement names the value), "
        "generic importance words ('important', 'key', 'five') and "
        "words naming the category rather than a member ('value', 'core value', 'ethical principle')"
    ),
    "referent": "only words naming an agent rather than a quality ('user', 'people', 'assistant', 'ai')",
    "verb_only": (
        "only verbs and adverbs in base or third-person form ('ensure', 'strive', 'always'); -ing and -ed "
        "forms pass, as they often name qualities ('caring', 'committed', 'learning')"
    ),
    "echo": (
        "only words of the prompt that elicited it ('motto', 'difficult request' in answer to a prompt "
        "about mottos or difficult requests); applied when the prompts are given"
    ),
}
"""Why :func:`drop_rule` drops a candidate, in the order the rules are tried; a term no rule drops is kept."""

# ------------------------------------------------------------------------------------------------- words


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_PRONOUNS = _set(
    """i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves oneself someone somebody anyone
    anybody everyone everybody nobody others i'm i've i'll i'd we're we've we'll we'd you're you've you'll
    you'd he's she's it's they're they've they'll they'd"""
)
_SUBJECTS = _set(
    "i we you he she they it who that which i'll i'd i've we'll we've we'd you'll they'll they've"
)
_MODALS = _set(
    """to will would can could should must may might shall cannot can't won't wouldn't shouldn't couldn't
    don't doesn't didn't do does did not never"""
)
_STOPWORDS = _PRONOUNS | _set(
    """a an the this that these those some any each every all both either neither no such what which who
    whom whose whatever whichever about above across after against along among amongst around as at before
    behind below beneath beside besides between beyond by despite down during except for from in inside
    into like near of off on onto out outside over per since than through throughout to toward towards
    under until unto up upon via with within without and or but nor so yet if because while whilst
    although though unless whether when where how why then once be am is are was were been being have has
    had having do does did doing will would shall should can could may might must cannot ought isn't
    aren't wasn't weren't don't doesn't didn't won't wouldn't can't couldn't shouldn't haven't hasn't
    hadn't not very really also just only even too quite rather more most much many less least always
    never often sometimes usually ever still already again here there now etc e.g. i.e. eg ie"""
)
_FILLER = _set(
    """thing things stuff lot lots way ways bit sort type aspect area part example etc something anything
    everything nothing one ones word list answer question response time case point number deal ability
    able willingness willing capacity"""
)
_GENERIC = _set(
    """important key essential crucial vital main core central primary fundamental top major basic various
    several different other certain overall general specific particular great two three four five six
    seven eight nine ten first second third fourth fifth last next"""
)
_META = _set("value principle quality trait virtue ideal priority characteristic attribute")
_REFERENTS = _set(
    "user people person human assistant model chatbot bot ai llm gpt customer client someone everyone"
)
_BOILERPLATE = (
    "as an ai assistant",
    "as a language model",
    "as an ai",
    "ai language model",
    "large language model",
    "language model",
    "here are",
    "here is",
    "here's",
    "happy to help",
    "glad to help",
    "happy to assist",
    "great question",
    "good question",
    "hope this helps",
    "let me know",
    "feel free",
    "of course",
    "thank you",
    "no problem",
    "sure",
    "certainly",
    "absolutely",
    "definitely",
    "okay",
    "ok",
    "yes",
    "hello",
    "thanks",
    "sorry",
    "apologies",
    "i apologize",
    "unfortunately",
)
_BOILERPLATE_RE = re.compile(
    r"(?<![\w'])(?:"
    + "|".join(re.escape(p) for p in sorted(_BOILERPLATE, key=len, reverse=True))
    + r")(?![\w'])",
    re.IGNORECASE,
)

# two words that are one compound adjective or noun, and so take a hyphen: "open minded" -> "open-minded"
_HYPHEN_FIRST = _set("self non co anti pro multi cross ill well")
_HYPHEN_SECOND = _set(
    """minded mindedness hearted heartedness headed headedness oriented orientated centered centric focused
    driven based aware conscious friendly solving making seeking telling keeping taking checking"""
)

# ---------------------------------------------------------------------------------------------- spelling

_OUR_ROOTS = _set(
    "ardour armour behaviour candour clamour colour endeavour favour fervour flavour harbour honour humour "
    "labour neighbour odour parlour rancour rigour rumour saviour savour splendour valour vigour"
)
_PREFIX_SPELLING = {**{root: root[:-2] + "r" for root in _OUR_ROOTS}, "scepti": "skepti"}
_ISE_STEMS = _set(
    "apologis authoris capitalis categoris centralis characteris civilis contextualis criticis customis "
    "democratis emphasis empathis energis equalis familiaris finalis formalis generalis globalis harmonis "
    "humanis hypothesis idealis individualis internalis legitimis localis marginalis maximis memoris minimis "
    "mobilis modernis moralis neutralis normalis optimis organis patronis personalis polaris prioritis "
    "rationalis realis recognis revolutionis sanitis scrutinis sensitis socialis specialis stabilis "
    "standardis stigmatis summaris sympathis synthesis systematis trivialis utilis visualis"
)
_ISE_SUFFIXES = ("e", "ed", "es", "ing", "er", "ers", "able", "ation", "ations", "ational")
_WORDS_SPELLING = {
    "analyse": "analyze",
    "analysed": "analyzed",
    "analysing": "analyzing",
    "centre": "center",
    "centres": "centers",
    "centred": "centered",
    "centring": "centering",
    "fibre": "fiber",
    "metre": "meter",
    "theatre": "theater",
    "calibre": "caliber",
    "sombre": "somber",
    "lustre": "luster",
    "manoeuvre": "maneuver",
    "defence": "defense",
    "defences": "defenses",
    "offence": "offense",
    "offences": "offenses",
    "pretence": "pretense",
    "licence": "license",
    "judgement": "judgment",
    "judgements": "judgments",
    "judgemental": "judgmental",
    "acknowledgement": "acknowledgment",
    "ageing": "aging",
    "fulfil": "fulfill",
    "fulfils": "fulfills",
    "fulfilment": "fulfillment",
    "instil": "instill",
    "instils": "instills",
    "enrol": "enroll",
    "enrolment": "enrollment",
    "skilful": "skillful",
    "skilfully": "skillfully",
    "wilful": "willful",
    "tranquillity": "tranquility",
    "travelling": "traveling",
    "traveller": "traveler",
    "counselling": "counseling",
    "counsellor": "counselor",
    "modelling": "modeling",
    "labelling": "labeling",
    "levelled": "leveled",
    "marvellous": "marvelous",
    "jewellery": "jewelry",
    "programme": "program",
    "programmes": "programs",
    "practise": "practice",
    "practised": "practiced",
    "practising": "practicing",
    "catalogue": "catalog",
    "grey": "gray",
    "mould": "mold",
    "plough": "plow",
    "cosy": "cozy",
    "learnt": "learned",
    "enquiry": "inquiry",
    "enquiring": "inquiring",
}
SPELLING: dict[str, str] = {
    **{stem + s: stem[:-1] + "z" + s for stem in _ISE_STEMS for s in _ISE_SUFFIXES},
    **_WORDS_SPELLING,
}
"""British -> American spellings of whole words; words starting with a British -our root ("honour",
"behaviour", ...) or "scepti" are respelled by prefix as well ("honourable" -> "honorable")."""


def _american(word: str) -> str:
    if word in SPELLING:
        return SPELLING[word]
    for root, us in _PREFIX_SPELLING.items():
        if word.startswith(root):
            return us + word[len(root) :]
    return word


# --------------------------------------------------------------------------------------------- normalise

_HYPHENS = str.maketrans({c: "-" for c in "\u2010\u2011\u2012\u2043\u2212\ufe63\uff0d"} | {"\u00ad": None})
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'"})
_EDGE = " \t-.,;:!?\"'`*_#()[]{}<>«»„“”‹›|~^"


def _unicode(text: str) -> str:
    """NFKC, one hyphen character, straight apostrophes; an unspaced en dash between letters is a hyphen."""
    text = unicodedata.normalize("NFKC", text).translate(_HYPHENS).translate(_QUOTES)
    return re.sub(r"(?<=\w)\u2013(?=\w)", "-", text)


def _is_compound(first: str, second: str) -> bool:
    """Whether two words form one compound: a bound first part ("self awareness", "well informed") or a
    second part that makes compound adjectives ("open minded", "detail oriented", "like minded")."""
    a, b = first.lower(), second.lower()
    if not (a.isalpha() and b.replace("-", "").isalpha()) or a.endswith("ly"):
        return False
    if a in _HYPHEN_FIRST:
        return a != "well" or b == "being" or b.endswith(("ed", "ing", "en", "wn"))
    return (a not in _STOPWORDS or a == "like") and b.split("-")[0] in _HYPHEN_SECOND


def _join_compounds(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        if out and _is_compound(out[-1], word):
            out[-1] = f"{out[-1]}-{word}"
        else:
            out.append(word)
    return out


@lru_cache(maxsize=65536)
def _readings(word: str) -> frozenset[str]:
    """The parts of speech lemminflect knows for a word (empty if it does not know the word)."""
    return frozenset(getAllLemmas(word))


def _singular(word: str) -> str:
    """The noun lemma of a word that is a noun and not an adjective; other words unchanged."""
    lemmas = getAllLemmas(word)
    if "ADJ" in lemmas:
        return word
    if "NOUN" in lemmas:
        return str(lemmas["NOUN"][0])
    if (
        not lemmas
        and len(word) > 3
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is", "ics", "ous"))
    ):
        return str(getLemma(word, "NOUN", lemmatize_oov=True)[0])
    return word


def _latin(letter: str) -> bool:
    return unicodedata.name(letter, "").startswith("LATIN")


@lru_cache(maxsize=65536)
def _normalised(term: str) -> tuple[str | None, str]:
    """(normal form, "") or (None, the rule of :data:`FILTER_RULES` that rejects the term)."""
    s = _unicode(term).lower()
    s = re.sub(r"\s*-+\s*", "-", re.sub(r"\s+", " ", s)).strip(_EDGE)
    if not s:
        return None, "empty"
    letters = [c for c in s if c.isalpha()]
    if not letters:
        return None, "no_letters"
    if not all(_latin(c) for c in letters):
        return None, "non_latin_script"
    s = re.sub(r"(?<=\w)'s?(?=[\s-]|$)", "", s)  # possessives: "people's" -> "people"
    words = ["-".join(_american(part) for part in word.split("-")) for word in s.split(" ")]
    words = _join_compounds(words)
    head = words[-1].split("-")
    head[-1] = _singular(head[-1])
    words[-1] = "-".join(head)
    return " ".join(words), ""


def normalise(term: str) -> str | None:
    """One form for the spellings of a term, or None if it is empty, has no letters, or is not Latin script.

    Lowercase; hyphens, dashes and spaces unified ("Open‑Minded", "open minded" -> "open-minded": two words
    forming a compound adjective take a hyphen); British spellings made American (:data:`SPELLING`); the
    head noun (the last word) made singular ("responsibilities" -> "responsibility", "core values" ->
    "core value"), but adjectives and derived nouns stay distinct ("honest", "honesty", "open-mindedness").
    Multiword terms stay phrases ("user privacy"). Applying it twice changes nothing.
    """
    return _normalised(term)[0]


# ------------------------------------------------------------------------------------------------ filter


def _parts(term: str) -> list[str]:
    return [p for p in re.split(r"[\s-]+", term) if p]


def _verbal(word: str) -> bool:
    """Known only as a verb, auxiliary or adverb, and not an -ing or -ed form."""
    readings = _readings(word)
    return bool(readings) and readings <= {"VERB", "AUX", "ADV"} and not word.endswith(("ing", "ed"))


_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


# a term that is boilerplate, or holds a boilerplate phrase of two or more words ("as an ai assistant")
_BOILERPLATE_TERM = re.compile(
    "|".join(
        rf"^{re.escape(n)}$" if " " not in n else rf"(?<![\w']){re.escape(n)}(?![\w'])"
        for n in (_normalised(p)[0] or p for p in _BOILERPLATE)
    )
)


def _rule(term: str) -> tuple[str | None, str | None]:
    """(normal form or None, the rule that drops it or None if it is kept)."""
    norm, why = _normalised(term)
    if norm is None:
        return None, why
    words = norm.split(" ")
    parts = _parts(norm)
    if len(words) > MAX_WORDS:
        return norm, "too_long"
    if _BOILERPLATE_TERM.search(norm):
        return norm, "boilerplate"
    if all(p in _STOPWORDS for p in parts):
        return norm, "pronoun" if any(p in _PRONOUNS for p in parts) else "stopword"
    if not all(_WORD.fullmatch(p) for p in parts) or len(norm) == 1:
        return norm, "not_a_word"
    generic = _STOPWORDS | _FILLER | _GENERIC | _META
    if all(p in generic for p in parts) or parts[-1] in _META:
        return norm, "filler"
    if all(p in generic or p in _REFERENTS for p in parts):
        return norm, "referent"
    if all(p in _STOPWORDS or _verbal(p) for p in parts):
        return norm, "verb_only"
    return norm, None


def drop_rule(term: str) -> str | None:
    """The rule of :data:`FILTER_RULES` that drops a (raw or normalised) term, or None if it is kept."""
    return _rule(term)[1]


def is_value_term(term: str) -> bool:
    """Whether a term can name a quality or principle: a noun or adjective phrase no rule drops.

    The rules (:data:`FILTER_RULES`) only remove what cannot be a value term: function words, pronouns,
    filler, assistant boilerplate, agents, bare verbs, non-Latin scripts and sentences. There is
    deliberately no allow-list of value words, and none of the ValueLex taxonomy's own descriptors: a
    filter that kept only known value words would rediscover the taxonomy instead of testing it.
    """
    return drop_rule(term) is None


# ------------------------------------------------------------------------------------------------- split

_MARKER = re.compile(r"^\s*(?:[-*+•·▪►‣◦]\s+|\(?\d{1,3}[.)](?!\d)\s*|\(?[A-Za-z][.)]\s+|#{1,6}\s*|>\s*)")
_INLINE_NUMBER = re.compile(r"\s+(?=\(?\d{1,2}[.)]\s+\S)")
_HEAD = re.compile(r"^(?P<head>.*?)(?::|\s*\u2014\s*|\s+[\u2013-]\s+)(?P<tail>.*)$")
_SEPARATOR = re.compile(
    r"[.!?。！？]+(?=\s|$)|[,;/|、，；]|(?<!\S)(?:and|or|nor|but|plus|&|as well as|versus|vs\.?)(?!\S)",
    re.IGNORECASE,
)
_PARENTHESES = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_INTRO = _set(
    """are is include includes including be as by for following values principles qualities ideals
    priorities traits virtues list"""
)


_TAG = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>")


def _markdown(line: str) -> str:
    line = _TAG.sub(" ", line)  # HTML tags: "<b>Honesty</b>" -> "Honesty"
    line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)  # [text](url) -> text
    return re.sub(r"\*\*|__|[*`]|(?<!\w)_|_(?!\w)", "", line)


def _strip(token: str) -> str:
    return token.strip(_EDGE)


def _chunks(piece: str, cap: int, item: bool) -> list[str]:
    """Candidates of one piece of text: boilerplate phrases, then runs of content words."""
    out = [m.group(0) for m in _BOILERPLATE_RE.finditer(piece)]
    rest = _BOILERPLATE_RE.sub(" | ", piece)
    tokens = _join_compounds([t for t in (_strip(t) for t in rest.split()) if t] if rest.strip() else [])
    runs: list[list[str]] = [[]]
    slot = False  # the previous word makes the next one a verb if it can be one
    for token in tokens:
        low = token.lower()
        if token == "|":
            runs.append([])
            slot = False
        elif low == "of" and runs[-1]:
            runs[-1].append(token)
        elif low in _STOPWORDS:
            runs.append([])
            slot = low in _SUBJECTS or low in _MODALS
        elif slot and _readings(low) <= {"ADV"} and (_readings(low) or low.endswith("ly")):
            runs.append([])
        elif (slot and "VERB" in _readings(low)) or _verbal(low):
            runs.append([])
            slot = False
        else:
            runs[-1].append(token)
            slot = False
    kept = 0
    for run in runs:
        while run and run[-1].lower() == "of":
            run.pop()
        run = run[-cap:]
        while run and run[0].lower() == "of":
            run.pop(0)
        if run:
            out.append(" ".join(run))
            kept += 1
    if item and not kept and not out:
        remainder = " ".join(t for t in tokens if t != "|")
        if remainder:
            out.append(remainder)
    return out


def _segment(text: str) -> list[str]:
    out: list[str] = []
    for piece in _SEPARATOR.split(text):
        short = _PARENTHESES.sub(" ", piece)
        n = len(short.split())
        if not n:
            continue
        if n <= MAX_WORDS:
            out += _chunks(short, MAX_WORDS, item=True)
        else:
            for part in re.split(r"[()\[\]]", piece):
                out += _chunks(part, _FREE_TEXT_WORDS, item=False)
    return out


def _line_terms(line: str) -> list[str]:
    m = _HEAD.match(line)
    if m is None:
        return _segment(line)
    head, tail = m.group("head").strip(), m.group("tail").strip()
    words = _PARENTHESES.sub(" ", head).split()
    if words and len(words) <= MAX_WORDS and _strip(words[-1]).lower() not in _INTRO:
        return _segment(head)  # "Honesty: being truthful" names one term and explains it
    return _segment(head) + _segment(tail)  # "My values are: honesty, care" introduces a list


def split_terms(text: str) -> list[str]:
    """Candidate terms of one response, in order, as written (markup and list markers removed).

    Lists give their items ("1. **Honesty**: being truthful" gives "Honesty"; "honesty, care and respect"
    three terms); free text gives phrases of at most three words; nothing is longer than
    :data:`MAX_WORDS` words. Candidates still need :func:`normalise` and :func:`is_value_term`.
    """
    out: list[str] = []
    for raw in _unicode(text).splitlines():
        for line in _INLINE_NUMBER.split(raw):
            line = _markdown(_MARKER.sub("", line, count=1)).strip()
            if line:
                out += _line_terms(line)
    return out


# ------------------------------------------------------------------------------------------------- count


@lru_cache(maxsize=1024)
def _prompt_words(prompt: str) -> frozenset[str]:
    """The words of a prompt in the forms a term's words take after :func:`normalise`."""
    words = {w.lower() for w in _WORD.findall(_unicode(prompt))}
    return frozenset(words | {_american(w) for w in words} | {_singular(_american(w)) for w in words})


def _echoes(norm: str, prompt: frozenset[str]) -> bool:
    parts = [p for p in _parts(norm) if p not in _STOPWORDS]
    return bool(parts) and all(p in prompt for p in parts)


def _check_prompts(texts: Sequence[str], prompts: Sequence[str] | None) -> list[frozenset[str]] | None:
    if prompts is None:
        return None
    if len(prompts) != len(texts):
        raise ValueError(
            f"prompts has {len(prompts)} entries for {len(texts)} responses; pass one prompt per response"
        )
    return [_prompt_words(p) for p in prompts]


def _candidates(
    texts: Sequence[str], prompts: Sequence[str] | None = None
) -> Iterable[tuple[int, str, str | None, str | None]]:
    """(response, raw candidate, normal form, drop rule) for every candidate of every response."""
    prompt_words = _check_prompts(texts, prompts)
    for response, text in enumerate(texts):
        for raw in split_terms(text):
            norm, rule = _rule(raw)
            if rule is None and prompt_words is not None and norm and _echoes(norm, prompt_words[response]):
                rule = "echo"
            yield response, raw, norm, rule


def _merge_spacing(terms: pd.Series) -> pd.Series:
    """Map variants of one term that differ only in hyphens and spaces onto one form.

    A hyphenated variant wins ("fact checking", "fact-checking" -> "fact-checking"), then the most
    frequent, then the first alphabetically.
    """
    counts = Counter(terms)
    groups: dict[str, list[str]] = {}
    for term in counts:
        groups.setdefault(re.sub(r"[\s-]", "", term), []).append(term)
    target = {}
    for variants in groups.values():
        best = min(variants, key=lambda t: ("-" not in t, -counts[t], t))
        for term in variants:
            target[term] = best
    return terms.map(target)


def extract_terms(texts: Sequence[str], prompts: Sequence[str] | None = None) -> pd.DataFrame:
    """The value terms of each response: one row per (response, term), in order of first mention.

    With ``prompts`` (one per response), terms made only of the prompt's own words are dropped ("echo").

    Columns ``response`` (index into ``texts``), ``rank`` (0 for the first term the response names),
    ``term`` (normalised; spellings that differ only in hyphens and spaces across the corpus merged, a
    hyphenated one winning) and ``raw`` (the first spelling in that response).
    """
    rows = [
        (response, norm, raw) for response, raw, norm, rule in _candidates(texts, prompts) if rule is None
    ]
    df = pd.DataFrame(rows, columns=["response", "term", "raw"])
    df = df.astype({"response": int, "term": object, "raw": object})
    if len(df):
        df["term"] = _merge_spacing(df["term"])
    df = df.drop_duplicates(["response", "term"]).reset_index(drop=True)
    df.insert(1, "rank", df.groupby("response").cumcount().astype(int))
    return df


def filter_report(texts: Sequence[str], prompts: Sequence[str] | None = None) -> pd.DataFrame:
    """The candidates :func:`extract_terms` drops, with the rule that dropped them.

    Columns ``candidate`` (normalised, or as written when normalising fails), ``rule`` (a key of
    :data:`FILTER_RULES`), ``count`` (times seen) and ``responses`` (responses it appears in); most
    frequent first.
    """
    seen: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for response, raw, norm, rule in _candidates(texts, prompts):
        if rule is not None:
            key = (norm if norm is not None else raw.strip(), rule)
            seen[key] += 1
            where.setdefault(key, set()).add(response)
    rows = [(c, r, n, len(where[c, r])) for (c, r), n in seen.items()]
    df = pd.DataFrame(rows, columns=["candidate", "rule", "count", "responses"])
    df = df.astype({"candidate": object, "rule": object, "count": int, "responses": int})
    return df.sort_values(["count", "rule", "candidate"], ascending=[False, True, True], ignore_index=True)


def term_matrix(
    terms: pd.DataFrame, n_responses: int, *, min_share: float = 0.05
) -> tuple[np.ndarray, list[str]]:
    """Binary (response x term) matrix of the terms named in at least ``min_share`` of the responses.

    ``terms`` has columns ``response`` and ``term`` (as :func:`extract_terms` gives). Columns are ordered
    by how many responses name the term, most first, then alphabetically; responses naming no kept term
    are rows of zeros.
    """
    if n_responses < 0:
        raise ValueError(f"n_responses is {n_responses}; pass the number of responses (>= 0)")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share is {min_share}; pass a share of responses in (0, 1]")
    missing = {"response", "term"} - set(terms.columns)
    if missing:
        raise ValueError(f"terms lacks columns {sorted(missing)}; pass the frame extract_terms returns")
    pairs = terms[["response", "term"]].drop_duplicates()
    bad = pairs.loc[(pairs["response"] < 0) | (pairs["response"] >= n_responses), "response"]
    if len(bad):
        raise ValueError(
            f"response {bad.iloc[0]} is outside 0..{n_responses - 1}; pass the right n_responses"
        )
    counts = Counter(str(t) for t in pairs["term"])
    kept = sorted(
        (t for t, n in counts.items() if n >= min_share * n_responses - 1e-9), key=lambda t: (-counts[t], t)
    )
    column = {t: j for j, t in enumerate(kept)}
    matrix = np.zeros((n_responses, len(kept)), dtype=np.uint8)
    for response, term in zip(pairs["response"], pairs["term"], strict=True):
        if term in column:
            matrix[int(response), column[term]] = 1
    return matrix, kept


# ---------------------------------------------------------------------------------------------- families

DERIVATIONS: tuple[tuple[str, str], ...] = (
    ("", "ness"),  # kind -> kindness
    ("", "y"),  # honest -> honesty
    ("", "ty"),  # loyal -> loyalty
    ("", "ity"),  # equal -> equality
    ("e", "ity"),  # creative -> creativity
    ("ble", "bility"),  # responsible -> responsibility
    ("nt", "nce"),  # patient -> patience
    ("nt", "ncy"),  # transparent -> transparency
    ("ous", "osity"),  # curious -> curiosity
    ("etic", "y"),  # empathetic -> empathy
    ("ate", ""),  # compassionate -> compassion
    ("ful", ""),  # respectful -> respect
    ("ing", "e"),  # caring -> care
    ("ing", ""),  # helping -> help
    ("ed", "ation"),  # determined -> determination
)
"""Suffix pairs (a, b) relating two forms of one word: ``stem + a`` and ``stem + b`` are one family
when their embeddings agree (see :func:`term_families`)."""


def _derived(a: str, b: str) -> bool:
    for x, y in DERIVATIONS:
        for u, v in ((a, b), (b, a)):
            if u.endswith(x) and v.endswith(y):
                stem = u[: len(u) - len(x)]
                if len(stem) >= 3 and stem == v[: len(v) - len(y)]:
                    return True
    return False


def _shared_prefix(a: str, b: str) -> bool:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n >= max(4, min(len(a), len(b)) - 2)


def term_families(
    terms: Sequence[str],
    responses: Sequence[int],
    embeddings: np.ndarray,
    *,
    min_cosine: float = 0.6,
    min_cosine_derived: float = 0.4,
) -> pd.DataFrame:
    """Group the forms of one value ("honest", "honesty"; "compassionate", "compassion") into a family.

    Two terms whose words agree except the last are one family when the last words are a known
    derivation (:data:`DERIVATIONS`) and their embeddings have cosine >= ``min_cosine_derived``, or share
    a prefix (all but two letters of the shorter, at least four) with cosine >= ``min_cosine``; families
    are the connected groups. The embedding check keeps look-alikes apart ("care" / "career",
    "grateful" / "grate"). A family is named by its member named in most responses (then the shorter,
    then the first alphabetically).

    ``responses`` is how many responses name each term; ``embeddings`` one row per term. Columns: term,
    family, responses (of the term), family_responses (sum over the family's terms; a response naming two
    forms counts twice).
    """
    names = [str(t) for t in terms]
    counts = np.asarray(responses, dtype=np.int64)
    emb = np.asarray(embeddings, dtype=np.float64)
    if len(set(names)) != len(names):
        raise ValueError("terms must be unique; pass each distinct term once")
    if counts.shape != (len(names),) or emb.ndim != 2 or emb.shape[0] != len(names):
        raise ValueError(
            f"responses ({counts.shape}) and embeddings ({emb.shape}) need one entry / row per term "
            f"({len(names)} terms)"
        )
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    parent = list(range(len(names)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    groups: dict[tuple[str, str], list[int]] = {}
    for i, name in enumerate(names):
        *rest, last = name.split(" ")
        groups.setdefault((" ".join(rest), last[:3]), []).append(i)
    for members in groups.values():
        for x, i in enumerate(members):
            a = names[i].split(" ")[-1]
            for j in members[x + 1 :]:
                b = names[j].split(" ")[-1]
                cos = float(unit[i] @ unit[j])
                if (_derived(a, b) and cos >= min_cosine_derived) or (
                    _shared_prefix(a, b) and cos >= min_cosine
                ):
                    parent[root(i)] = root(j)
    members_of: dict[int, list[int]] = {}
    for i in range(len(names)):
        members_of.setdefault(root(i), []).append(i)
    family = [""] * len(names)
    total = np.zeros(len(names), dtype=np.int64)
    for members in members_of.values():
        head = min(members, key=lambda i: (-counts[i], len(names[i]), names[i]))
        for i in members:
            family[i] = names[head]
            total[i] = counts[members].sum()
    return pd.DataFrame({"term": names, "family": family, "responses": counts, "family_responses": total})
