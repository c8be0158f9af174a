"""``world_facts``: open factual questions built from real data (``world_sources``), in
question families with difficulty levels, and splits that hold facts and families apart.

Families (``FAMILIES``; group ``geography`` or ``elements``)::

    capital          What is the capital of France?                  Paris
    capital_country  Paris is the capital of which country?          France
    city_country     In which country is the city of Lyon?           France
    currency         What is the currency of Japan?                  Yen
    continent        On which continent is Kenya?                    Africa
    city_continent   On which continent is the city of Lyon?         Europe
    element_symbol   What is the chemical symbol for gold?            Au
    symbol_element   Which chemical element has the symbol Au?       Gold
    element_number   What is the atomic number of gold?              79 (numeric match)
    number_element   Which chemical element has atomic number 79?    Gold

Difficulty (level 1 easiest .. 5) stands for how well known the entity is: a country's rank by
population among the 195 states (``COUNTRY_BOUNDS``), a city's rank among the cities the
family keeps (``CITY_BOUNDS``; each city level is a fixed pick of at most ``CITY_CELL``
cities, the same for ``city_country`` and ``city_continent``), an element's row of the
periodic table (``ELEMENT_BOUNDS``: periods 1-3, 4, 5, 6, 7).

A question is left out when a reader could not grade it by one answer: countries with several
or disputed capitals (``SEVERAL_CAPITALS``), countries and their cities on two continents
(``TRANSCONTINENTAL``), cities whose name a city of another country at least a tenth as
populous shares (Valencia) and a second picked city of one name (Fuzhou), element symbols that
are English words (``In``), and answers that occur in the question (the capital of Luxembourg)
or inside another question's different gold answer as whole words (``Guinea`` in ``Equatorial
Guinea``: a lenient grader would accept the wrong one). An alias with the second problem is
dropped instead. Every answer comes with its accent-free form (``Brasília``, ``Brasilia``).

Parts: each fact's entity (a country, a city, an element) is in ``train`` (50%),
``validation`` (20%) or ``test`` (30%) by a fixed hash of the entity, so the parts share no
question and no fact (France's capital and "Paris is the capital of which country?" are in
the same part). Families are held apart by group (``geography_train`` / ``elements_test``)
or by subject (``family/level``: ``subjects=["capital", "currency"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from confalign.data._stable import stable_hash
from confalign.data.answer_tokens import strip_accents
from confalign.data.example import QAExample
from confalign.data.matching import answer_key
from confalign.data.world_sources import (
    CONTINENT_ADJECTIVES,
    CONTINENTS,
    ELEMENT_SPELLINGS,
    UK_NATIONS,
    City,
    Country,
    cities,
    codes,
    countries,
    elements,
    with_folds,
)

NAME = "world_facts"
PARTS = {"train": 50, "validation": 20, "test": 30}  # percent of the entities
COUNTRY_BOUNDS = (30, 70, 110, 150)  # population ranks ending levels 1..4; level 5 the rest
CITY_BOUNDS = (25, 75, 200, 500, 1200)  # a city ranked past the last bound is left out
# At most this many cities per level, a fixed seeded pick; a larger cap's pick holds every
# smaller cap's, so raising it (from 40) kept every earlier city question.
CITY_CELL = 200
ELEMENT_BOUNDS = (18, 36, 54, 86)  # last atomic number of periods 3, 4, 5, 6
MIN_NAME_SHARE = 10  # a city is kept when 10x as populous as any namesake abroad
SEVERAL_CAPITALS = codes("BJ BO CI GQ IL LK NR PW SZ ZA")
TRANSCONTINENTAL = codes("AM AU AZ CY EG GE KZ RU TL TR")
WORD_SYMBOLS = codes("Am As At Be He I In No")


@dataclass(frozen=True)
class Family:
    """One kind of question: its template, the group it belongs to and its answers' type."""

    name: str
    group: str
    answer_type: str  # the pool ``add_distractors`` draws this family's wrong options from
    template: str
    match: str = "text"


_GEO, _ELEMENTS = "geography", "elements"
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("capital", _GEO, "capital city", "What is the capital of {}?"),
        Family("capital_country", _GEO, "country", "{} is the capital of which country?"),
        Family("city_country", _GEO, "country", "In which country is the city of {}?"),
        Family("currency", _GEO, "currency", "What is the currency of {}?"),
        Family("continent", _GEO, "continent", "On which continent is {}?"),
        Family("city_continent", _GEO, "continent", "On which continent is the city of {}?"),
        Family("element_symbol", _ELEMENTS, "element symbol",
               "What is the chemical symbol for {}?"),
        Family("symbol_element", _ELEMENTS, "element", "Which chemical element has the symbol {}?"),
        Family("element_number", _ELEMENTS, "atomic number", "What is the atomic number of {}?",
               "numeric"),
        Family("number_element", _ELEMENTS, "element",
               "Which chemical element has atomic number {}?"),
    )
}  # fmt: skip
GROUPS: dict[str, tuple[str, ...]] = {
    g: tuple(f.name for f in FAMILIES.values() if f.group == g) for g in (_GEO, _ELEMENTS)
}


@dataclass(frozen=True)
class Fact:
    """One question before it becomes a ``QAExample``: ``answers`` holds the gold first."""

    family: str
    entity: str  # shared by every family's question about the same thing: ``FR``, ``Z79``
    subject: str  # what the template is filled with
    answers: tuple[str, ...]
    level: int


def level_of(rank: int, bounds: Sequence[int]) -> int:
    """1 + how many ``bounds`` lie below ``rank`` (rank 1 is the best known)."""
    return 1 + sum(rank > b for b in bounds)


def part_of(entity: str) -> str:
    """The part (``PARTS``) an entity's facts belong to, by a fixed hash."""
    slot = stable_hash(NAME, "part", entity) % 100
    for part, share in PARTS.items():
        if slot < share:
            return part
        slot -= share
    raise AssertionError("PARTS must add up to 100")


def _the(name: str) -> str:
    """A country's name as written inside a sentence: "the United States", "the Gambia"."""
    plural = name.endswith(("Islands", "Republic", "Emirates", "Netherlands", "Philippines"))
    titled = name.startswith(("United ", "Republic ", "Democratic ", "Central ", "Bahamas"))
    if name.startswith("The "):
        return "the " + name[4:]
    return f"the {name}" if plural or titled or name in ("Gambia", "Maldives", "Comoros") else name


def _country_facts() -> list[Fact]:
    out = []
    for rank, c in enumerate(countries(), start=1):
        level = level_of(rank, COUNTRY_BOUNDS)
        name = _the(c.name)
        if c.capital and c.code not in SEVERAL_CAPITALS:
            out.append(Fact("capital", c.code, name, c.capital, level))
            out.append(Fact("capital_country", c.code, c.capital[0], c.names, level))
        if c.currency:
            out.append(Fact("currency", c.code, name, c.currency, level))
        if c.code not in TRANSCONTINENTAL:
            out.append(
                Fact(
                    "continent",
                    c.code,
                    name,
                    (CONTINENTS[c.continent], *CONTINENT_ADJECTIVES[c.continent]),
                    level,
                )
            )
    return out


def _namesake_abroad(city: City, by_name: dict[str, list[City]]) -> bool:
    """Whether a city of another country shares the name and has a tenth of the people."""
    return any(
        other.country != city.country and other.population * MIN_NAME_SHARE > city.population
        for other in by_name[answer_key(strip_accents(city.name))]
    )


def _city_facts() -> list[Fact]:
    states = {c.code: c for c in countries()}
    capitals = {c.capital_id for c in countries()}
    country_keys = {answer_key(n) for c in countries() for n in c.names}
    by_name: dict[str, list[City]] = {}
    for city in cities():
        by_name.setdefault(answer_key(strip_accents(city.name)), []).append(city)
    kept = [
        city
        for city in cities()
        if city.country in states
        and city.id not in capitals  # asked about in capital_country
        and answer_key(strip_accents(city.name)) not in country_keys
        and not _namesake_abroad(city, by_name)
    ][: CITY_BOUNDS[-1]]
    cells: dict[int, list[City]] = {}
    for rank, city in enumerate(kept, start=1):
        cells.setdefault(level_of(rank, CITY_BOUNDS[:-1]), []).append(city)
    picks = {
        level: sorted(members, key=lambda c: stable_hash(NAME, "city", c.id))[:CITY_CELL]
        for level, members in cells.items()
    }
    # Two picked cities of one name (Fuzhou, Fujian and Fuzhou, Jiangxi) would be one question
    # twice: the city a smaller cap picks first asks it.
    asker: dict[str, int] = {}
    for _, city in sorted(
        ((i, c) for chosen in picks.values() for i, c in enumerate(chosen)),
        key=lambda t: (t[0], -t[1].population, t[1].id),
    ):
        asker.setdefault(answer_key(strip_accents(city.name)), city.id)
    out = []
    for level, chosen in sorted(picks.items()):
        for city in sorted(chosen, key=lambda c: -c.population):
            if asker[answer_key(strip_accents(city.name))] != city.id:
                continue
            country, entity = states[city.country], f"city{city.id}"
            out.append(Fact("city_country", entity, city.name, city_answers(city, country), level))
            if city.country not in TRANSCONTINENTAL:
                continent = (
                    CONTINENTS[country.continent],
                    *CONTINENT_ADJECTIVES[country.continent],
                )
                out.append(Fact("city_continent", entity, city.name, continent, level))
    return out


def city_answers(city: City, country: Country) -> tuple[str, ...]:
    """The country's names, and for a British city its nation (England, Scotland, Wales)."""
    nation = UK_NATIONS.get(city.division) if city.country == "GB" else None
    return (*country.names, nation) if nation else country.names


def _element_facts() -> list[Fact]:
    out = []
    for e in elements():
        level = level_of(e.number, ELEMENT_BOUNDS)
        name = e.name.capitalize()
        spellings = [name] + ([ELEMENT_SPELLINGS[e.name]] if e.name in ELEMENT_SPELLINGS else [])
        entity, names = f"Z{e.number}", with_folds(spellings)
        if e.symbol not in WORD_SYMBOLS:
            out.append(Fact("element_symbol", entity, e.name, (e.symbol,), level))
        out.append(Fact("symbol_element", entity, e.symbol, names, level))
        out.append(Fact("element_number", entity, e.name, (str(e.number),), level))
        out.append(Fact("number_element", entity, str(e.number), names, level))
    return out


def _inside(part: str, whole: str) -> bool:
    """Whether normalised ``part`` occurs in normalised ``whole`` as whole words."""
    return bool(part) and f" {part} " in f" {whole} "


def _key(text: str) -> str:
    return answer_key(strip_accents(text))


def unambiguous(facts: Sequence[Fact], question: Callable[[Fact], str]) -> list[Fact]:
    """``facts`` of one family without the answers a lenient grader could not tell apart
    (module docstring): such an alias is dropped, a fact with such a gold is left out."""
    # Each other answer set by its gold: the name a model answers with (an official name,
    # "United Kingdom of Great Britain and Northern Ireland", is too rare an answer to count).
    golds = {(_key(f.answers[0]), frozenset(_key(a) for a in f.answers)) for f in facts}

    def clear(answer: str, fact: Fact) -> bool:
        key, own = _key(answer), frozenset(_key(a) for a in fact.answers)
        if _inside(key, _key(question(fact))):
            return False
        return not any(
            key not in keys and _inside(key, gold) for gold, keys in golds if keys != own
        )

    out = []
    for fact in facts:
        if clear(fact.answers[0], fact):
            kept = tuple(a for a in fact.answers if clear(a, fact))
            out.append(Fact(fact.family, fact.entity, fact.subject, kept, fact.level))
    return out


def question_text(fact: Fact) -> str:
    return FAMILIES[fact.family].template.format(fact.subject)


def to_example(fact: Fact) -> QAExample:
    """The fact as an open question; ``meta`` names its family, level, group and part."""
    family = FAMILIES[fact.family]
    part = part_of(fact.entity)
    meta = {
        "family": fact.family,
        "level": str(fact.level),
        "group": family.group,
        "entity": fact.entity,
        "part": part,
        "answer_type": family.answer_type,
    }
    if family.match != "text":
        meta["match"] = family.match
    return QAExample(
        id=f"wf-{fact.family}-{fact.entity}",
        question=question_text(fact),
        gold=fact.answers[0],
        aliases=fact.answers[1:],
        subject=f"{fact.family}/{fact.level}",
        source=NAME,
        split=part,
        meta=meta,
    )


@lru_cache(maxsize=1)
def world_facts() -> tuple[QAExample, ...]:
    """Every question of every family and part, family by family, easiest level first."""
    facts = [*_country_facts(), *_city_facts(), *_element_facts()]
    out: list[QAExample] = []
    for family in FAMILIES:
        members = [f for f in facts if f.family == family]
        kept = unambiguous(members, question_text)
        out += [to_example(f) for f in sorted(kept, key=lambda f: f.level)]
    return tuple(ex.validate(NAME) for ex in out)


def select(
    examples: Iterable[QAExample], *, parts: Iterable[str], families: Iterable[str]
) -> list[QAExample]:
    """The ``examples`` of the given parts and families, in order."""
    wanted_parts, wanted_families = set(parts), set(families)
    unknown = (wanted_parts - set(PARTS)) | (wanted_families - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown world_facts parts or families: {sorted(unknown)}")
    return [
        ex
        for ex in examples
        if ex.meta["part"] in wanted_parts and ex.meta["family"] in wanted_families
    ]
