"""The word lists and spellings the value-term splitter and filter rely on.

Function words, pronouns, and the subjects and modals after which a word that can be a verb is one
("I *value* honesty"); filler, generic importance words, words naming the category rather than a member
(:data:`META`: "value", "principle"), agents, assistant boilerplate; the parts of compounds that take a
hyphen ("open minded" -> "open-minded"); and :data:`SPELLING`, a small maintained map of British to
American spellings of value vocabulary (behaviour -> behavior, prioritise -> prioritize, centred ->
centered), applied by :func:`american`."""

from __future__ import annotations

import re


def word_set(words: str) -> frozenset[str]:
    """The whitespace-separated words of ``words``, as a set."""
    return frozenset(words.split())


PRONOUNS = word_set(
    """i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves oneself someone somebody anyone
    anybody everyone everybody nobody others i'm i've i'll i'd we're we've we'll we'd you're you've you'll
    you'd he's she's it's they're they've they'll they'd"""
)
SUBJECTS = word_set(
    "i we you he she they it who that which i'll i'd i've we'll we've we'd you'll they'll they've"
)
MODALS = word_set(
    """to will would can could should must may might shall cannot can't won't wouldn't shouldn't couldn't
    don't doesn't didn't do does did not never"""
)
STOPWORDS = PRONOUNS | word_set(
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
FILLER = word_set(
    """thing things stuff lot lots way ways bit sort type aspect area part example etc something anything
    everything nothing one ones word list answer question response time case point number deal ability
    able willingness willing capacity"""
)
GENERIC = word_set(
    """important key essential crucial vital main core central primary fundamental top major basic various
    several different other certain overall general specific particular great two three four five six
    seven eight nine ten first second third fourth fifth last next"""
)
META = word_set("value principle quality trait virtue ideal priority characteristic attribute")
REFERENTS = word_set(
    "user people person human assistant model chatbot bot ai llm gpt customer client someone everyone"
)
BOILERPLATE = (
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
BOILERPLATE_RE = re.compile(
    r"(?<![\w'])(?:"
    + "|".join(re.escape(p) for p in sorted(BOILERPLATE, key=len, reverse=True))
    + r")(?![\w'])",
    re.IGNORECASE,
)

# two words that are one compound adjective or noun, and so take a hyphen: "open minded" -> "open-minded"
HYPHEN_FIRST = word_set("self non co anti pro multi cross ill well")
HYPHEN_SECOND = word_set(
    """minded mindedness hearted heartedness headed headedness oriented orientated centered centric focused
    driven based aware conscious friendly solving making seeking telling keeping taking checking"""
)


_OUR_ROOTS = word_set(
    "ardour armour behaviour candour clamour colour endeavour favour fervour flavour harbour honour humour "
    "labour neighbour odour parlour rancour rigour rumour saviour savour splendour valour vigour"
)
_PREFIX_SPELLING = {**{root: root[:-2] + "r" for root in _OUR_ROOTS}, "scepti": "skepti"}
_ISE_STEMS = word_set(
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


def american(word: str) -> str:
    """The American spelling of a lowercase word: :data:`SPELLING`, then the -our and scepti- prefixes."""
    if word in SPELLING:
        return SPELLING[word]
    for root, us in _PREFIX_SPELLING.items():
        if word.startswith(root):
            return us + word[len(root) :]
    return word
