"""Performance directions in a score's words ("cresc.", "Allegro molto", "a tempo", "q = 120").

A port of partitura's ``directions.py`` (Apache License 2.0, (c) the partitura
authors): the same word lists and grammar, so a score reads with the same marks
as when partitura read it (the default model learned from those). It returns
plain ``(kind, text)`` pairs instead of partitura objects. The grammar needs
``lark`` (the ``[musicxml]`` extra, checked by ``read.load_score``).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# partitura.utils.globals.UNABBREVS: the full form of an abbreviated word
UNABBREVS = [
    (re.compile(r"(crescendo|cresc\.?)"), "crescendo"),
    (re.compile(r"(smorzando|smorz\.?)"), "smorzando"),
    (re.compile(r"(decrescendo|(decresc|decr|dimin|dim)\.?)"), "diminuendo"),
    (re.compile(r"((acceler|accel|acc)\.?)"), "accelerando"),
    (re.compile(r"(ritenente|riten\.?)"), "ritenuto"),
    (re.compile(r"((ritard|rit)\.?)"), "ritardando"),
    (re.compile(r"((rallent|rall)\.?)"), "rallentando"),
    (re.compile(r"(dolciss\.?)"), "dolcissimo"),
    (re.compile(r"((sosten|sost)\.?)"), "sostenuto"),
    (re.compile(r"(delicatiss\.?)"), "delicatissimo"),
    (re.compile(r"(leggieramente|leggiermente|leggiero|legg\.?)"), "leggiero"),
    (re.compile(r"(leggierissimo|(leggieriss\.?))"), "leggierissimo"),
    (re.compile(r"(scherz\.?)"), "scherzando"),
    (re.compile(r"(tenute|ten\.?)"), "tenuto"),
    (re.compile(r"(allegretto)"), "allegro"),
    (re.compile(r"(espress\.?)"), "espressivo"),
    (re.compile(r"(ligato)"), "legato"),
    (re.compile(r"(ligatissimo)"), "legatissimo"),
    (re.compile(r"((rinforz|rinf|rfz|rf)\.?)"), "rinforzando"),
]


def _join_items(items: list[str]) -> str:
    """A grammar terminal: the items joined by |, case-insensitive; /.../ items are regular expressions."""
    return " | ".join(f"{item}i" if item.startswith("/") else f'"{item}"i' for item in items)


def _unabbreviate(s: str) -> str:
    for p, v in UNABBREVS:
        if p.match(s):
            return v
    return s


INC_LOUDNESS_ADJ = [
    r"/(crescendo|cresc\.?)/",
]

DEC_LOUDNESS_ADJ = [
    "raddolcendo",
    r"/(smorzando|smorz\.?)/",
    "perdendosi",
    "calando",
    r"/(diminuendo|decrescendo|(decresc|decr|dimin|dim)\.?)/",
]

INC_TEMPO_ADJ = [
    r"/(accelerando|(acceler|accel|acc)\.?)/",
    "rubato",
]
DEC_TEMPO_ADJ = [
    r"/(ritenuto|(ritenente|riten)\.?)/",
    r"/(ritardando|(ritard|rit)\.?)/",
    r"/(rallentando|(rallent|rall)\.?)/",
]

DYNAMIC_QUANTIFIER = [
    "poi a poi",
    "poco a poco",
    "sempre piu",
    "sempre più",
]

CONSTANT_QUANTIFIER = [
    r"/molt[oa]/",
    "di molto",
    r"/poc[oa]/",
    "un poco",
    "ben",
    "piu",
    "più",
    "pio",
    "meno",
    "gran",
    r"/mezz[oa]/",
    "quasi",
    "assai",
    "/doppi[oa]/",
    "troppo",
    "tanto",
    "sempre",
    ", ma non troppo",
    "ma non troppo",
    "non troppo",
    "non tanto",
    "etwas",
]

CONSTANT_LOUDNESS_ADJ = [
    r"/(dolcissimo|dolciss\.?|dolce)/",
    "forte",
    "delicato",
    "energico",
    "piano",
    "pp",
    "p",
    "f",
    r"/(sostenuto|(sosten|sost)\.?)/",
]

CONSTANT_TEMPO_ADJ = [
    "adagio",
    "agitato",
    "andante",
    "andante cantabile",
    "andante amoroso",
    "andantino",
    "animato",
    "appassionato",
    "arioso",
    "brillante",
    "cantabile",
    "comodo",
    r"/(delicatissimo|delicatiss\.?)/",
    "religioso",
    "dolente",
    "funebre",
    "grave",
    "grazioso",
    "langsamer",
    "larghetto",
    "largo",
    r"/(leggieramente|leggiermente|leggiero|leggierissimo|(leggieriss|legg)\.?)/",
    "lento",
    "lusingando",
    "maestoso",
    "mancando",
    "marcato",
    "mesto",
    "moderato",
    "mosso",
    "pesante",
    "piacevole",
    "prestissimo",
    "presto",
    "risoluto",
    "risvegliato",
    r"/(scherzando|scherz\.?)/",
    "secco",
    "/s[ei]mplice/",
    "slentando",
    "stretto",
    "stringendo",
    "teneramente",
    r"/(tenute|tenuto|ten\.?)/",
    "tranquilamente",
    "tranquilo",
    "recitativo",
    "allegro moderato",
    r"/(vivo|vivacissimamente|vivace)/",
    r"/(allegro|allegretto)/",
    r"/(espressivo|espress\.?)/",
]


CONSTANT_ARTICULATION_ADJ = [
    r"/(staccato|staccatissimo)/",
    r"/(legato|legatissimo|ligato|ligatissimo)/",
]

# adjectives that may express a combination of tempo loudness and
# articulation directions
CONSTANT_MIXED_ADJ = [
    r"/(rinforzando|(rinforz|rinf|rfz|rf)\.?)/",
]


NOUN = [
    "brio",
    "espressione",
    "marcia",
    "bravura",
    "variation",
    "moto",
    "fine",
    "energia",
    "fuoco",
    "duolo",
    "anima",
    "forza",
    "voce",
    "tempo",
    "sentimento",
    "movimento",
]

GENRE = [
    "scherzo",
    "marcia",
    "tedesca",
    "mazurka",
    "menuetto",
]
# TODO: support "tempo di GENRE"

PREP = ["con", "alla", "al", "del", "sotto", "senza"]
CONJ = ["ed", "e", "und", ","]
NEG = ["non"]
NOTE = [r"/[qhe]\.*/"]
TEMPO_RESET = [r"/((in|a) )?tempo (i|1|primo)/", r"/(in|a) tempo/", "doppio movimento"]


DIRECTION_GRAMMAR = rf"""
start: direction -> do_first
     | direction conj direction -> conj
     | direction "("? tempo_indication ")"?  -> do_both
     | neg direction

direction: ap
         | pp
         | np
         | ap pp -> do_first
         | tempo_reset
         | "("? tempo_indication ")"?
         | genre

genre: GENRE
     | GENRE ap

pp: PREP np -> words
  | PREP GENRE -> do_second

np: NOUN
  | _quantifier NOUN

ap: _adj      -> do_first    // allegro
  | _adj _adj -> do_first    // allegro grazioso | lento sostenuto
  | _quantifier _adj -> do_second
  | _adj _quantifier -> do_first
  | _quantifier pp -> do_second

_adj: constant_tempo_adj
    | constant_loudness_adj
    | constant_articulation_adj
    | constant_mixed_adj
    | inc_loudness_adj
    | dec_loudness_adj
    | inc_tempo_adj
    | dec_tempo_adj

constant_tempo_adj: CONSTANT_TEMPO_ADJ
constant_loudness_adj: CONSTANT_LOUDNESS_ADJ
constant_articulation_adj: CONSTANT_ARTICULATION_ADJ
constant_mixed_adj: CONSTANT_MIXED_ADJ
inc_loudness_adj: INC_LOUDNESS_ADJ
dec_loudness_adj: DEC_LOUDNESS_ADJ
inc_tempo_adj: INC_TEMPO_ADJ
dec_tempo_adj: DEC_TEMPO_ADJ

_quantifier: constant_quantifier
           | dynamic_quantifier

constant_quantifier: CONSTANT_QUANTIFIER
dynamic_quantifier: DYNAMIC_QUANTIFIER

conj: CONJ
neg: NEG

tempo_indication: NOTE "=" BPM
tempo_reset: "("? TEMPO_RESET ")"?

TEMPO_RESET: {_join_items(TEMPO_RESET)}

NOTE: {_join_items(NOTE)}
BPM: /[0-9]+/

NOUN: {_join_items(NOUN)}
PREP: {_join_items(PREP)}
CONSTANT_TEMPO_ADJ: {_join_items(CONSTANT_TEMPO_ADJ)}
CONSTANT_LOUDNESS_ADJ: {_join_items(CONSTANT_LOUDNESS_ADJ)}
CONSTANT_ARTICULATION_ADJ: {_join_items(CONSTANT_ARTICULATION_ADJ)}
CONSTANT_MIXED_ADJ: {_join_items(CONSTANT_MIXED_ADJ)}
INC_LOUDNESS_ADJ: {_join_items(INC_LOUDNESS_ADJ)}
DEC_LOUDNESS_ADJ: {_join_items(DEC_LOUDNESS_ADJ)}
INC_TEMPO_ADJ: {_join_items(INC_TEMPO_ADJ)}
DEC_TEMPO_ADJ: {_join_items(DEC_TEMPO_ADJ)}
CONSTANT_QUANTIFIER: {_join_items(CONSTANT_QUANTIFIER)}
DYNAMIC_QUANTIFIER: {_join_items(DYNAMIC_QUANTIFIER)}
GENRE: {_join_items(GENRE)}
CONJ: {_join_items(CONJ)}
NEG: {_join_items(NEG)}

%import common.WS
%ignore WS

"""


# grammar rule -> mark kind (markings.py's names); None: a direction autodyn does not use
_KINDS: dict[str, str | None] = {
    "constant_tempo_adj": "tempo",
    "constant_loudness_adj": "dynamic",
    "constant_articulation_adj": "articulation",  # legato...: not a mark, but it lasts (set_end_times)
    "constant_mixed_adj": None,
    "inc_loudness_adj": "cresc",
    "dec_loudness_adj": "dim",
    "inc_tempo_adj": "accel",
    "dec_tempo_adj": "rit",
    "genre": "tempo",
    "tempo_reset": "tempo_reset",
}


@cache
def _parser() -> Any:
    """lark's parser of the grammar: built on first need (a tenth of a second), imported only then."""
    from lark import Lark

    return Lark(DIRECTION_GRAMMAR, start="start", ambiguity="explicit", propagate_positions=True)


def _regularize(children: list[Any]) -> str:
    return " ".join(_unabbreviate(str(ch).lower()) for ch in children)


def _directions(tree: Any) -> list[tuple[str, str]]:
    """(kind, text) of each direction in the parse tree, as partitura's ``create_directions``;
    ``("metronome", "UNIT BPM")`` for a tempo such as "q = 120"."""
    data = tree.data
    if data == "conj":
        return _directions(tree.children[0]) + _directions(tree.children[2])
    if data in ("direction", "do_first"):
        return _directions(tree.children[0])
    if data == "do_second":
        return _directions(tree.children[1])
    if data == "do_both":
        return _directions(tree.children[0]) + _directions(tree.children[1])
    if data == "tempo_indication":
        return [("metronome", f"{tree.children[0]} {int(tree.children[1])}")]
    if data == "genre":
        return [("tempo", _regularize(tree.children[:1]))]
    if data in _KINDS:
        kind = _KINDS[data]
        return [(kind, _regularize(tree.children))] if kind else [("", "")]
    return [("", "")]  # words, or a construct partitura does not handle


# one-word texts ("cresc.", "Allegro") without building the grammar: a word that is exactly one
# adjective or genre terminal and no other terminal parses to just that (tests/musicxml/test_words.py)
_ADJECTIVES = {
    "constant_tempo_adj": CONSTANT_TEMPO_ADJ,
    "constant_loudness_adj": CONSTANT_LOUDNESS_ADJ,
    "constant_articulation_adj": CONSTANT_ARTICULATION_ADJ,
    "constant_mixed_adj": CONSTANT_MIXED_ADJ,
    "inc_loudness_adj": INC_LOUDNESS_ADJ,
    "dec_loudness_adj": DEC_LOUDNESS_ADJ,
    "inc_tempo_adj": INC_TEMPO_ADJ,
    "dec_tempo_adj": DEC_TEMPO_ADJ,
    "genre": GENRE,
}
# every other terminal: the grammar's own lists, its BPM and the anonymous "(", ")", "="
_OTHER_TERMINALS = [*NOUN, *PREP, *CONSTANT_QUANTIFIER, *DYNAMIC_QUANTIFIER, *CONJ, *NEG, *NOTE, *TEMPO_RESET]
_OTHER_TERMINALS += ["/[0-9]+/", "(", ")", "="]
_WHITESPACE = re.compile(r"[ \t\f\r\n]+")


def _terminal(item: str) -> re.Pattern[str]:
    body = item[1:-1] if item.startswith("/") else re.escape(item)
    return re.compile(f"(?:{body})", re.IGNORECASE)


@cache
def _word_terminals() -> tuple[list[tuple[str, re.Pattern[str]]], list[re.Pattern[str]]]:
    rules = [(rule, _terminal(item)) for rule, items in _ADJECTIVES.items() for item in items]
    return rules, [_terminal(item) for item in _OTHER_TERMINALS]


def _could_parse(string: str) -> bool:
    """Whether the grammar's terminals can cover ``string`` at all (as lark's lexer matches them,
    whitespace ignored); when they cannot, the text is no direction and lark need not be built."""
    rules, others = _word_terminals()
    patterns = [p for _, p in rules] + others
    reached, todo = set(), [0]
    while todo:
        pos = todo.pop()
        space = _WHITESPACE.match(string, pos)
        pos = space.end() if space else pos
        if pos == len(string):
            return True
        if pos in reached:
            continue
        reached.add(pos)
        todo += [m.end() for p in patterns if (m := p.match(string, pos)) and m.end() > pos]
    return False


def _one_word(string: str) -> list[tuple[str, str]] | None:
    """The directions of a one-word text, or None when only the grammar can tell."""
    if not string or any(c.isspace() or c in "()=," for c in string):
        return None
    rules, others = _word_terminals()
    found = {rule for rule, pattern in rules if pattern.fullmatch(string)}
    if len(found) != 1 or any(p.fullmatch(string) for p in others):
        return None
    kind = _KINDS[found.pop()]
    return [(kind, _regularize([string]))] if kind else []


@cache
def parse_words(text: str) -> tuple[tuple[str, str], ...]:
    """The directions in a ``<words>`` text: ``(kind, text)`` pairs, kind one of ``_KINDS``'
    values or "metronome" (text "UNIT BPM"); empty when the words are no direction."""
    string = text.strip().rstrip(".")
    quick = _one_word(string)  # the grammar takes a tenth of a second to build: only when needed
    if quick is not None:
        return tuple(quick)
    if not _could_parse(string):
        return ()
    try:
        found = _directions(_parser().parse(string))
    except Exception:  # lark's errors: not a direction
        return ()
    return tuple(d for d in found if d[0])
