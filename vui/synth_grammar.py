"""Sentence grammar of the synthetic corpus: seeded English sentences for eSpeak NG to read.

Sentences come from word lists and templates (statements, questions, negations, counting, requests,
conditionals ...), so the corpus has a varied vocabulary and sentence structure while every
transcript stays inside the 28-character map: lower-case a-z, apostrophes and single spaces,
MIN_WORDS..MAX_WORDS words. ``make_sentences(n, seed)`` is a pure function of its arguments.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import numpy as np

from utils import normalize_transcript, text_to_int_sequence

MIN_WORDS: int = 3
MAX_WORDS: int = 15

_T = TypeVar("_T")

# --- word lists -----------------------------------------------------------------------------------
_NAMES = (
    "alice", "peter", "mary", "james", "susan", "robert", "emma", "thomas", "lucy", "henry", "sarah",
    "william", "anna", "george", "kate", "david", "helen", "frank", "grace", "oliver", "martha", "edward",
    "ruth", "charles", "jane", "arthur", "clara", "walter", "rose", "samuel", "joseph", "nora", "victor",
)
_PEOPLE = (
    "man", "woman", "boy", "girl", "teacher", "doctor", "farmer", "sailor", "soldier", "captain", "driver",
    "baker", "painter", "student", "stranger", "neighbor", "king", "queen", "child", "nurse", "writer",
    "singer", "pilot", "guard", "judge", "fisherman", "merchant",
)
_ANIMALS = (
    "dog", "cat", "horse", "bird", "fox", "rabbit", "cow", "sheep", "mouse", "wolf", "bear", "goat", "duck",
    "owl", "pig", "donkey", "squirrel", "frog",
)
_THINGS = (
    "book", "letter", "box", "door", "window", "chair", "table", "lamp", "key", "coat", "hat", "basket",
    "bottle", "cup", "knife", "rope", "boat", "wagon", "apple", "bread", "candle", "clock", "map", "picture",
    "ring", "bell", "blanket", "pencil", "newspaper", "jacket", "umbrella", "bucket", "ladder", "piano",
    "bicycle", "kettle", "mirror", "envelope", "puzzle", "jar", "quilt", "violin", "zipper",
)
_PLURALS = (
    "books", "letters", "boxes", "chairs", "apples", "candles", "bottles", "horses", "birds", "sheep",
    "children", "stones", "flowers", "ships", "coins", "eggs", "windows", "boats", "pictures", "pencils",
    "cups", "keys", "ducks", "foxes", "jars", "oranges", "wolves", "shoes", "buttons", "feathers",
)
_PLACES = (
    "the kitchen", "the garden", "the market", "the station", "the village", "the forest", "the harbor",
    "the church", "the school", "the library", "the river", "the hill", "the city", "the farm", "the beach",
    "the castle", "the office", "the shop", "the valley", "the museum", "the meadow", "the square",
    "the cellar", "the park", "the hospital", "the bakery",
)
_LOCATIONS = (  # things something can be on, under, near ...
    "table", "bed", "bridge", "door", "window", "wall", "tree", "fence", "shelf", "stairs", "bench", "sofa",
    "desk", "gate", "fireplace",
)
_LOCATION_PREPS = ("under", "near", "behind", "beside", "on", "by", "below", "above")
_MOTION_PREPS = ("to", "into", "across", "through", "toward", "around", "along", "past", "near", "behind")
_ADJECTIVES = (
    "old", "young", "small", "large", "quiet", "bright", "dark", "cold", "warm", "heavy", "empty", "broken",
    "strange", "beautiful", "green", "red", "yellow", "blue", "white", "black", "gentle", "angry", "happy",
    "tired", "clever", "quick", "lazy", "brave", "wooden", "silver", "golden", "narrow", "wide", "soft",
    "sharp", "clean", "dusty", "famous", "simple", "careful", "tiny", "enormous", "crooked", "shiny",
)
_STATES = (  # adjectives for people
    "tired", "happy", "hungry", "ready", "late", "busy", "cold", "sorry", "afraid", "glad", "sure", "lucky",
    "thirsty", "worried", "excited", "lost", "right", "wrong",
)
_WEATHER = ("cold", "warm", "dark", "windy", "quiet", "bright", "cloudy", "foggy", "sunny", "wet", "freezing")
_DEGREES = ("very", "quite", "rather", "so", "really", "a little", "too", "not")
_TRANSITIVE = (  # (base, past)
    ("find", "found"), ("lose", "lost"), ("carry", "carried"), ("open", "opened"), ("close", "closed"),
    ("paint", "painted"), ("buy", "bought"), ("sell", "sold"), ("take", "took"), ("bring", "brought"),
    ("watch", "watched"), ("follow", "followed"), ("move", "moved"), ("drop", "dropped"),
    ("lift", "lifted"), ("clean", "cleaned"), ("fix", "fixed"), ("wash", "washed"), ("push", "pushed"),
    ("pull", "pulled"), ("keep", "kept"), ("hide", "hid"), ("hold", "held"), ("see", "saw"),
    ("need", "needed"), ("want", "wanted"), ("forget", "forgot"), ("remember", "remembered"),
    ("choose", "chose"), ("break", "broke"), ("borrow", "borrowed"), ("return", "returned"),
    ("build", "built"), ("catch", "caught"), ("throw", "threw"), ("fill", "filled"), ("check", "checked"),
    ("mend", "mended"), ("pack", "packed"), ("squeeze", "squeezed"), ("examine", "examined"),
)
_INTRANSITIVE = (  # (base, past)
    ("laugh", "laughed"), ("wait", "waited"), ("sleep", "slept"), ("smile", "smiled"), ("walk", "walked"),
    ("listen", "listened"), ("cry", "cried"), ("dance", "danced"), ("stop", "stopped"), ("shout", "shouted"),
    ("whisper", "whispered"), ("arrive", "arrived"), ("sing", "sang"), ("work", "worked"), ("rest", "rested"),
    ("jump", "jumped"), ("hurry", "hurried"), ("sit", "sat"), ("stay", "stayed"), ("run", "ran"),
    ("swim", "swam"), ("wander", "wandered"), ("climb", "climbed"), ("fall", "fell"), ("wake", "woke"),
)
_PUT_VERBS = ("put", "leave", "place", "set", "hide", "keep")
_ADVERBS = (
    "slowly", "quickly", "quietly", "suddenly", "carefully", "happily", "again", "early", "late",
    "together", "alone", "at last", "once more", "for hours", "without a word", "all day",
)
_DIRECTIONS = ("home", "away", "outside", "upstairs", "downstairs", "back", "inside", "across the road")
_PAST_TIMES = (
    "this morning", "last night", "yesterday", "on sunday", "in the evening", "after dinner", "before noon",
    "at midnight", "in the spring", "last winter", "at dawn", "two days ago", "in the afternoon",
    "on monday", "last summer", "after the storm",
)
_FUTURE_TIMES = ("tomorrow", "tonight", "on friday", "next week", "this weekend", "in the morning", "soon")
_NUMBERS = (
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty",
    "fifty", "a hundred", "a dozen", "several", "many", "a few", "no",
)
_POSSESSIVES = ("my", "his", "her", "our", "their", "your")
_DETERMINERS = ("the", "the", "the", "my", "his", "her", "our", "their", "that", "this", "your")
_PRONOUNS = ("he", "she", "we", "they", "i", "you")
_BE_CONTRACTIONS = ("i'm", "you're", "he's", "she's", "we're", "they're")
_NEGATIONS = ("didn't", "couldn't", "wouldn't", "won't", "can't", "shouldn't", "mustn't")
_THINK_VERBS = ("i think", "i know", "we hope", "they said", "she believes", "he told me", "nobody knew")
_QUESTION_WORDS = ("why", "where", "when", "how")


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    """One of `options`, uniformly."""
    return options[int(rng.integers(len(options)))]


def _pick_two(rng: np.random.Generator, options: Sequence[_T]) -> tuple[_T, _T]:
    """Two different entries of `options`, uniformly."""
    first, second = rng.choice(len(options), size=2, replace=False)
    return options[first], options[second]


def _subject(rng: np.random.Generator) -> str:
    """A sentence subject: a name, a (described) person or animal, or a pronoun."""
    r = rng.random()
    if r < 0.3:
        return _pick(rng, _NAMES)
    if r < 0.5:
        return "the " + _pick(rng, _PEOPLE)
    if r < 0.7:
        return f"the {_pick(rng, _ADJECTIVES)} {_pick(rng, _PEOPLE + _ANIMALS)}"
    if r < 0.85:
        return f"{_pick(rng, _POSSESSIVES)} {_pick(rng, _PEOPLE)}"
    return _pick(rng, _PRONOUNS)


def _object(rng: np.random.Generator) -> str:
    """A direct object: determiner, optional adjective, thing."""
    noun = _pick(rng, _THINGS)
    if rng.random() < 0.5:
        noun = f"{_pick(rng, _ADJECTIVES)} {noun}"
    return f"{_pick(rng, _DETERMINERS)} {noun}"


def _simple_clause(rng: np.random.Generator) -> str:
    """'<subject> <verb-ed> <object>' or '<subject> <verb-ed> <adverb>'."""
    if rng.random() < 0.6:
        clause = f"{_subject(rng)} {_pick(rng, _TRANSITIVE)[1]} {_object(rng)}"
    else:
        clause = f"{_subject(rng)} {_pick(rng, _INTRANSITIVE)[1]} {_pick(rng, _ADVERBS)}"
    return clause


def _t_transitive(rng: np.random.Generator) -> str:
    """'<subject> <verb-ed> <object> [<past time> | in <place>]'."""
    s = f"{_subject(rng)} {_pick(rng, _TRANSITIVE)[1]} {_object(rng)}"
    r = rng.random()
    if r < 0.4:
        s += " " + _pick(rng, _PAST_TIMES)
    elif r < 0.7:
        s += " in " + _pick(rng, _PLACES)
    return s


def _t_intransitive(rng: np.random.Generator) -> str:
    """'<subject> <verb-ed> <adverb> [<motion preposition> <place>]'."""
    s = f"{_subject(rng)} {_pick(rng, _INTRANSITIVE)[1]} {_pick(rng, _ADVERBS)}"
    if rng.random() < 0.6:
        s += f" {_pick(rng, _MOTION_PREPS)} {_pick(rng, _PLACES)}"
    return s


def _t_state(rng: np.random.Generator) -> str:
    """'<i'm ...> <degree> <state>' or 'it was <degree> <weather>', with an optional time."""
    if rng.random() < 0.5:
        s = f"{_pick(rng, _BE_CONTRACTIONS)} {_pick(rng, _DEGREES)} {_pick(rng, _STATES)}"
    else:
        opener = _pick(rng, ("it was", "it is", "it's", "that's"))
        s = f"{opener} {_pick(rng, _DEGREES)} {_pick(rng, _WEATHER)}"
    if rng.random() < 0.5:
        s += " " + _pick(rng, _PAST_TIMES if "was" in s else _FUTURE_TIMES)
    return s


def _t_negation(rng: np.random.Generator) -> str:
    """'<subject> <didn't ...> <verb> <object>'."""
    return f"{_subject(rng)} {_pick(rng, _NEGATIONS)} {_pick(rng, _TRANSITIVE)[0]} {_object(rng)}"


def _t_question(rng: np.random.Generator) -> str:
    """'<why ...> <did ...> <subject> <verb> [<object>]'."""
    aux = _pick(rng, ("did", "did", "will", "would", "could"))
    if rng.random() < 0.6:
        return f"{_pick(rng, _QUESTION_WORDS)} {aux} {_subject(rng)} {_pick(rng, _TRANSITIVE)[0]} {_object(rng)}"
    return f"{_pick(rng, _QUESTION_WORDS)} {aux} {_subject(rng)} {_pick(rng, _INTRANSITIVE)[0]}"


def _t_counting(rng: np.random.Generator) -> str:
    """'<number> <things> were <preposition> the <location>' or 'there were ... in <place>'."""
    if rng.random() < 0.5:
        return (
            f"{_pick(rng, _NUMBERS)} {_pick(rng, _PLURALS)} were "
            f"{_pick(rng, _LOCATION_PREPS)} the {_pick(rng, _LOCATIONS)}"
        )
    return f"there were {_pick(rng, _NUMBERS)} {_pick(rng, _PLURALS)} in {_pick(rng, _PLACES)}"


def _t_request(rng: np.random.Generator) -> str:
    """'<please ...> <put ...> <object> <preposition> the <location>'."""
    start = _pick(rng, ("please", "please", "don't", "never", "you should", "let's"))
    where = f"{_pick(rng, _LOCATION_PREPS)} the {_pick(rng, _LOCATIONS)}"
    return f"{start} {_pick(rng, _PUT_VERBS)} {_object(rng)} {where}"


def _t_possessive(rng: np.random.Generator) -> str:
    """'<name>'s <thing> was <adjective> and <other adjective>'."""
    first, second = _pick_two(rng, _ADJECTIVES)
    return f"{_pick(rng, _NAMES)}'s {_pick(rng, _THINGS)} was {first} and {second}"


def _t_reported(rng: np.random.Generator) -> str:
    """'<i think ...> [that] <simple clause>'."""
    joiner = _pick(rng, (" that ", " "))
    return _pick(rng, _THINK_VERBS) + joiner + _simple_clause(rng)


def _t_animals(rng: np.random.Generator) -> str:
    """'the <animal> and the <other animal> <verb-ed> <motion preposition> <place>'."""
    first, second = _pick_two(rng, _ANIMALS)
    return (
        f"the {first} and the {second} {_pick(rng, _INTRANSITIVE)[1]} "
        f"{_pick(rng, _MOTION_PREPS)} {_pick(rng, _PLACES)}"
    )


def _t_time_first(rng: np.random.Generator) -> str:
    """'<past time> <subject> <verb-ed> <adverb>'."""
    return f"{_pick(rng, _PAST_TIMES)} {_subject(rng)} {_pick(rng, _INTRANSITIVE)[1]} {_pick(rng, _ADVERBS)}"


def _t_sequence(rng: np.random.Generator) -> str:
    """'<subject> <verb-ed> <object> and <other verb-ed> it <direction>'."""
    (_, first), (_, second) = _pick_two(rng, _TRANSITIVE)
    return (
        f"{_subject(rng)} {first} {_object(rng)} and {second} it "
        f"{_pick(rng, _DIRECTIONS)}"
    )


def _t_because(rng: np.random.Generator) -> str:
    """'<simple clause> because <it was ...> <weather or state>'."""
    reason = _pick(rng, ("it was", "it was", "we were", "they were", "she was", "he was"))
    adjective = _pick(rng, _WEATHER) if reason == "it was" else _pick(rng, _STATES)
    return f"{_simple_clause(rng)} because {reason} {adjective}"


def _t_conditional(rng: np.random.Generator) -> str:
    """'if it <rains ...> <future time> <we'll ...> <verb> <direction>'."""
    weather = _pick(rng, ("rains", "snows", "gets dark", "stays warm", "is sunny"))
    then = _pick(rng, ("we'll", "i'll", "they'll", "you'll", "she'll"))
    when = _pick(rng, _FUTURE_TIMES)
    return f"if it {weather} {when} {then} {_pick(rng, _INTRANSITIVE)[0]} {_pick(rng, _DIRECTIONS)}"


def _t_pair(rng: np.random.Generator) -> str:
    """'<name> and <other name> <verb-ed> <motion preposition> <place> <past time>'."""
    first, second = _pick_two(rng, _NAMES)
    return (
        f"{first} and {second} {_pick(rng, _INTRANSITIVE)[1]} "
        f"{_pick(rng, _MOTION_PREPS)} {_pick(rng, _PLACES)} {_pick(rng, _PAST_TIMES)}"
    )


# a template is drawn uniformly; listing one twice doubles its share
_TEMPLATES: tuple[Callable[[np.random.Generator], str], ...] = (
    _t_transitive, _t_transitive, _t_intransitive, _t_intransitive, _t_state, _t_negation, _t_question,
    _t_counting, _t_request, _t_possessive, _t_reported, _t_animals, _t_time_first, _t_sequence,
    _t_because, _t_conditional, _t_pair,
)


def check_sentence(text: str) -> str:
    """Return `text` if it is a usable transcript (normalised, in the char map, MIN..MAX words)."""
    if normalize_transcript(text) != text:
        raise ValueError(f"sentence {text!r} is not normalised")
    text_to_int_sequence(text)  # raises ValueError for a character outside the map
    n_words = len(text.split())
    if not MIN_WORDS <= n_words <= MAX_WORDS:
        raise ValueError(f"sentence {text!r} has {n_words} words, not {MIN_WORDS}..{MAX_WORDS}")
    return text


def random_sentence(rng: np.random.Generator) -> str:
    """One sentence from a random template: lower-case, apostrophes, spaces and a-z only."""
    while True:
        text = " ".join(_pick(rng, _TEMPLATES)(rng).split())
        if MIN_WORDS <= len(text.split()) <= MAX_WORDS:
            return check_sentence(text)


def make_sentences(n: int, seed: int) -> list[str]:
    """`n` sentences for `seed`, distinct while the generator can find new ones (it can, by far)."""
    rng = np.random.default_rng([seed, 1])
    sentences: list[str] = []
    seen: set[str] = set()
    while len(sentences) < n:
        for _ in range(100):
            text = random_sentence(rng)
            if text not in seen:
                break
        seen.add(text)
        sentences.append(text)
    return sentences

