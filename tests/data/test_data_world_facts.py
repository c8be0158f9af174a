"""world_facts: hand-checked facts from the real package data, levels, the ambiguity rules,
determinism, stratified samples, disjoint parts and family groups, distractors, and the CLI."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

from confalign.data import BENCHMARKS, add_distractors, is_correct, load_benchmark
from confalign.data import world_facts as wf
from confalign.data.answer_tokens import strip_accents as fold
from confalign.data.benchmarks.world_facts import SIZES, SPLITS, examples
from confalign.data.world_facts import (
    FAMILIES,
    GROUPS,
    Fact,
    city_answers,
    level_of,
    part_of,
    unambiguous,
    world_facts,
)
from confalign.data.world_sources import CONTINENT_ADJECTIVES, CONTINENTS, countries
from confalign.data.world_sources import cities as all_cities

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from cli_helpers import group, run_app

# questions per family x level and per family x part (train, validation, test);
# docs/datasets/world_facts.md has the same table
CELLS = {
    "capital": [29, 38, 37, 39, 36],
    "capital_country": [28, 36, 36, 36, 35],
    "city_country": [25, 49, 125, 199, 199],
    "currency": [29, 39, 38, 40, 45],
    "continent": [26, 38, 39, 38, 43],
    "city_continent": [24, 44, 117, 186, 182],
    "element_symbol": [16, 17, 16, 31, 30],
    "symbol_element": [18, 18, 18, 32, 32],
    "element_number": [18, 18, 18, 32, 32],
    "number_element": [18, 18, 18, 32, 32],
}
PER_PART = {
    "capital": (89, 39, 51),
    "capital_country": (88, 36, 47),
    "city_country": (296, 127, 174),
    "currency": (95, 42, 54),
    "continent": (92, 40, 52),
    "city_continent": (272, 119, 162),
    "element_symbol": (63, 24, 23),
    "symbol_element": (68, 25, 25),
    "element_number": (68, 25, 25),
    "number_element": (68, 25, 25),
}


@pytest.fixture(scope="module")
def by_id() -> dict[str, object]:
    return {ex.id: ex for ex in world_facts()}


# id -> (question, gold, aliases that must be there, level), checked by hand against an atlas
# and the periodic table; the levels against the rank rules (France is the 21st most populous
# state in GeoNames' figures, Kenya the 29th; periods 3, 4 and 5 end at Z = 18, 36 and 54).
HAND_CHECKED = {
    "wf-capital-FR": ("What is the capital of France?", "Paris", (), 1),
    "wf-capital-BR": ("What is the capital of Brazil?", "Brasília", ("Brasilia",), 1),
    "wf-capital-KZ": ("What is the capital of Kazakhstan?", "Astana", ("Nur-Sultan",), 2),
    "wf-capital-US": ("What is the capital of the United States?", "Washington", (), 1),
    "wf-capital-IS": ("What is the capital of Iceland?", "Reykjavík", ("Reykjavik",), 5),
    "wf-capital_country-JP": ("Tokyo is the capital of which country?", "Japan", (), 1),
    "wf-capital_country-CZ": (
        "Prague is the capital of which country?",
        "Czechia",
        ("Czech Republic",),
        3,
    ),
    "wf-currency-JP": ("What is the currency of Japan?", "Yen", ("Japanese yen",), 1),
    "wf-currency-US": (
        "What is the currency of the United States?",
        "US Dollar",
        ("United States dollar",),
        1,
    ),
    "wf-currency-SN": (
        "What is the currency of Senegal?",
        "CFA Franc BCEAO",
        ("CFA franc", "West African CFA franc"),
        3,
    ),
    "wf-continent-KE": ("On which continent is Kenya?", "Africa", ("African",), 1),
    "wf-continent-CL": ("On which continent is Chile?", "South America", ("South American",), 2),
    "wf-element_symbol-Z79": ("What is the chemical symbol for gold?", "Au", (), 4),
    "wf-element_symbol-Z26": ("What is the chemical symbol for iron?", "Fe", (), 2),
    "wf-symbol_element-Z47": ("Which chemical element has the symbol Ag?", "Silver", (), 3),
    "wf-symbol_element-Z13": (
        "Which chemical element has the symbol Al?",
        "Aluminum",
        ("aluminium",),
        1,
    ),
    "wf-element_number-Z6": ("What is the atomic number of carbon?", "6", (), 1),
    "wf-element_number-Z92": ("What is the atomic number of uranium?", "92", (), 5),
}
# the element of an atomic number: (Z, gold, aliases that must be there, level)
HAND_CHECKED |= {
    f"wf-number_element-Z{z}": (f"Which chemical element has atomic number {z}?", *rest)
    for z, *rest in [
        (79, "Gold", (), 4),
        (6, "Carbon", (), 1),
        (26, "Iron", (), 2),
        (13, "Aluminum", ("aluminium",), 1),
        (16, "Sulfur", ("sulphur",), 1),
        (92, "Uranium", (), 5),
    ]
}
# cities by GeoNames id: (name, country, continent, level); the levels by rank among the kept
# cities (Lagos 1-25, Toronto, Osaka, Chicago 76-200, Auckland 201-500, Marseille 501-1200)
CITIES = {
    2332459: ("Lagos", "Nigeria", "Africa", 1),
    6167865: ("Toronto", "Canada", "North America", 3),
    4887398: ("Chicago", "United States", "North America", 3),
    1853909: ("Osaka", "Japan", "Asia", 3),
    3674962: ("Medellín", "Colombia", "South America", 3),
    2911298: ("Hamburg", "Germany", "Europe", 3),
    2193733: ("Auckland", "New Zealand", "Oceania", 4),
    2995469: ("Marseille", "France", "Europe", 5),
}
HAND_CHECKED |= {
    f"wf-{family}-city{city_id}": (question.format(name), answer, (), level)
    for city_id, (name, country, continent, level) in CITIES.items()
    for family, question, answer in (
        ("city_country", "In which country is the city of {}?", country),
        ("city_continent", "On which continent is the city of {}?", continent),
    )
}


@pytest.mark.parametrize("ex_id", sorted(HAND_CHECKED))
def test_hand_checked_facts(ex_id: str, by_id: dict[str, object]) -> None:
    question, gold, aliases, level = HAND_CHECKED[ex_id]
    ex = by_id[ex_id]
    assert ex.question == question
    assert ex.gold == gold
    assert set(aliases) <= set(ex.aliases)
    assert ex.meta["level"] == str(level) and ex.subject.endswith(f"/{level}")


def test_city_questions_name_the_country_and_uk_nations() -> None:
    cities = {ex.question: ex for ex in world_facts() if ex.meta["family"] == "city_country"}
    assert len(cities) == sum(CELLS["city_country"])
    shanghai = cities["In which country is the city of Shanghai?"]
    assert shanghai.gold == "China" and shanghai.meta["level"] == "1"
    abidjan = cities["In which country is the city of Abidjan?"]
    assert abidjan.gold == "Ivory Coast"
    assert {"Côte d'Ivoire", "Cote d'Ivoire"} <= set(abidjan.aliases)
    uk = next(c for c in countries() if c.code == "GB")
    glasgow = next(c for c in all_cities() if c.name == "Glasgow" and c.country == "GB")
    answers = city_answers(glasgow, uk)
    assert answers[0] == "United Kingdom" and {"UK", "Scotland"} <= set(answers)
    assert "England" not in answers
    # capitals are asked the other way round, never here
    assert not any("city of Paris?" in q or "city of Tokyo?" in q for q in cities)


def test_raising_the_city_cap_keeps_every_earlier_city_question(
    by_id: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    # each level's pick is a prefix of one fixed order, so the 185 questions of the cap of 40
    # keep their ids, texts and answers (checked in full when the cap was raised)
    monkeypatch.setattr(wf, "CITY_CELL", 40)
    earlier = unambiguous(
        [f for f in wf._city_facts() if f.family == "city_country"], wf.question_text
    )
    assert len(earlier) == 185
    for fact in earlier:
        ex = by_id[f"wf-city_country-{fact.entity}"]
        assert (ex.question, ex.answers, ex.meta["level"]) == (
            wf.question_text(fact),
            fact.answers,
            str(fact.level),
        )
    # two picked cities of one name (Fuzhou, Jiangxi, picked at the cap of 40, and Fuzhou,
    # Fujian) ask one question, the earlier pick's
    assert "wf-city_country-city1810820" in by_id and "wf-city_country-city1810821" not in by_id
    questions = Counter(ex.question for ex in world_facts())
    assert questions.most_common(1)[0][1] == 1


def test_city_continent_asks_the_same_cities_and_skips_two_continents(
    by_id: dict[str, object],
) -> None:
    facts = world_facts()
    city_country = {ex.meta["entity"]: ex for ex in facts if ex.meta["family"] == "city_country"}
    city_continent = [ex for ex in facts if ex.meta["family"] == "city_continent"]
    states = {c.code: c for c in countries()}
    cities = {f"city{c.id}": c for c in all_cities()}
    for ex in city_continent:
        city = cities[ex.meta["entity"]]
        code = states[city.country].continent
        assert (ex.gold, ex.aliases) == (CONTINENTS[code], CONTINENT_ADJECTIVES[code])
        assert city.country not in wf.TRANSCONTINENTAL
        # no city on an island of another continent than its country's (Canaries, Hawaii,
        # Madeira): none ranks among the kept cities
        assert (city.country, city.division) not in {("ES", "53"), ("US", "HI"), ("PT", "30")}
        twin = city_country.get(ex.meta["entity"])
        if twin is not None:  # same city, same level and part
            assert (twin.meta["level"], twin.split) == (ex.meta["level"], ex.split)
    # Port Sudan: its country is in its name (left out of city_country), its continent is not
    assert {ex.meta["entity"] for ex in city_continent} - set(city_country) == {"city377039"}
    # Istanbul (Turkey), Almaty (Kazakhstan), Sydney (Australia): the country, not the continent
    for city_id in ("745044", "1526384", "2147714"):
        assert f"wf-city_country-city{city_id}" in by_id
        assert f"wf-city_continent-city{city_id}" not in by_id
    golds = Counter(ex.gold for ex in city_continent)
    assert golds["Asia"] == 388 and set(golds) == set(CONTINENTS.values())


def test_number_element_is_with_the_elements_other_questions(by_id: dict[str, object]) -> None:
    numbers = [ex for ex in world_facts() if ex.meta["family"] == "number_element"]
    assert len(numbers) == 118 and {ex.meta["group"] for ex in numbers} == {"elements"}
    for ex in numbers:
        z = ex.meta["entity"][1:]
        assert ex.question == f"Which chemical element has atomic number {z}?"
        # the same answers as "Which chemical element has the symbol ...?", in the same part
        by_symbol = by_id[f"wf-symbol_element-Z{z}"]
        assert (ex.gold, ex.aliases, ex.split) == (
            by_symbol.gold,
            by_symbol.aliases,
            by_symbol.split,
        )
        assert by_id[f"wf-element_number-Z{z}"].split == ex.split
    assert by_id["wf-number_element-Z55"].aliases == ("caesium",)


def test_ambiguous_questions_are_left_out(by_id: dict[str, object]) -> None:
    # several capitals (South Africa), two continents (Russia), a symbol that is a word (In)
    for ex_id in ("wf-capital-ZA", "wf-continent-RU", "wf-element_symbol-Z49"):
        assert ex_id not in by_id
    # the answer inside another answer (Sudan, South Sudan) or inside the question
    for ex_id in ("wf-capital_country-SD", "wf-capital_country-GN", "wf-capital-LU"):
        assert ex_id not in by_id
    assert "wf-capital_country-SS" in by_id and "wf-capital_country-NG" in by_id
    # cities shared with another country (Valencia: Spain and Venezuela) are left out
    questions = {ex.question for ex in world_facts()}
    assert "In which country is the city of Valencia?" not in questions
    # no question about a dependency (Puerto Rico) or a disputed place (Western Sahara)
    assert not any(ex.meta["entity"] in ("PR", "EH", "HK") for ex in world_facts())


def test_unambiguous_drops_an_alias_inside_another_gold() -> None:
    facts = [
        Fact("capital_country", "CG", "Brazzaville", ("Rep. Congo", "Congo"), 3),
        Fact("capital_country", "CD", "Kinshasa", ("Democratic Republic of the Congo",), 1),
        Fact("capital_country", "NE", "Niamey", ("Niger",), 2),
        Fact("capital_country", "NG", "Abuja", ("Nigeria",), 1),
    ]
    kept = {f.entity: f.answers for f in unambiguous(facts, lambda f: f"{f.subject}?")}
    assert kept == {
        "CG": ("Rep. Congo",),
        "CD": ("Democratic Republic of the Congo",),
        "NE": ("Niger",),  # "niger" is not a whole word of "nigeria"
        "NG": ("Nigeria",),
    }
    in_question = [Fact("capital", "LU", "Luxembourg", ("Luxembourg",), 5)]
    assert unambiguous(in_question, lambda f: f"What is the capital of {f.subject}?") == []


def test_every_answer_has_its_accent_free_form() -> None:
    accented = [a for ex in world_facts() for a in ex.answers if fold(a) != a]
    assert len(accented) >= 15 and "Bogotá" in accented
    for ex in world_facts():
        for a in ex.answers:
            assert fold(a) in ex.answers, (ex.id, a)
    assert fold("Łódź") == "Lodz" and fold("Chișinău") == "Chisinau"


def test_levels_and_counts() -> None:
    assert [level_of(r, (30, 70)) for r in (1, 30, 31, 70, 71)] == [1, 1, 2, 2, 3]
    counts = Counter(ex.subject for ex in world_facts())
    per_family = {f: [counts[f"{f}/{level}"] for level in range(1, 6)] for f in FAMILIES}
    assert per_family == CELLS
    assert all(min(cells) >= 15 for cells in per_family.values())
    assert per_family["symbol_element"] == [18, 18, 18, 32, 32]  # the periods, whole


def test_sizes_and_parts_are_disjoint_by_entity() -> None:
    parts = {p: examples(p) for p in ("train", "validation", "test")}
    assert {p: len(v) for p, v in parts.items()} == {p: SIZES[p] for p in parts}
    assert SIZES == {"train": 1199, "validation": 502, "test": 638, "all": 2339}
    per_part = Counter((ex.meta["family"], ex.split) for ex in world_facts())
    assert {
        f: tuple(per_part[f, p] for p in ("train", "validation", "test")) for f in FAMILIES
    } == PER_PART
    ids = {p: {ex.id for ex in v} for p, v in parts.items()}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["validation"]
    assert not ids["validation"] & ids["test"]
    questions = {p: {ex.question for ex in v} for p, v in parts.items()}
    assert sum(len(q) for q in questions.values()) == len(set().union(*questions.values()))
    entities = {p: {ex.meta["entity"] for ex in v} for p, v in parts.items()}
    assert not entities["train"] & entities["test"]
    assert not entities["train"] & entities["validation"]
    assert not entities["validation"] & entities["test"]
    assert sum(len(v) for v in parts.values()) == len(examples("all")) == len(world_facts())
    # each family is in every part, about 50/20/30
    for family in FAMILIES:
        n = {p: sum(ex.meta["family"] == family for ex in v) for p, v in parts.items()}
        assert n["train"] > n["test"] > n["validation"] * 0.8 > 0, (family, n)
    assert part_of("FR") == part_of("FR") and {part_of(f"Z{z}") for z in range(1, 50)} == {
        "train",
        "validation",
        "test",
    }


def test_family_groups_are_held_apart() -> None:
    geo, chem = examples("geography_train"), examples("elements_test")
    assert {ex.meta["family"] for ex in geo} == set(GROUPS["geography"])
    assert {ex.meta["family"] for ex in chem} == set(GROUPS["elements"])
    assert {ex.meta["part"] for ex in geo} == {"train"}
    assert {ex.meta["part"] for ex in examples("elements_all")} == {"train", "validation", "test"}
    assert set(SPLITS) >= {"test", "all", "geography_test", "elements_validation"}
    # subjects pick any families
    picked = load_benchmark("world_facts", split="train", subjects=["capital", "currency"])
    assert {ex.meta["family"] for ex in picked.examples} == {"capital", "currency"}


def test_seeded_stratified_sample_is_deterministic() -> None:
    a = load_benchmark("world_facts", limit=120, seed=3, stratify=True).examples
    b = load_benchmark("world_facts", limit=120, seed=3, stratify=True).examples
    c = load_benchmark("world_facts", limit=120, seed=4, stratify=True).examples
    assert [ex.id for ex in a] == [ex.id for ex in b] != [ex.id for ex in c]
    # each family x level cell gets its share of the 120, give or take one
    test = examples("test")
    total = Counter(ex.subject for ex in test)
    got = Counter(ex.subject for ex in a)
    for subject, n in total.items():
        assert abs(got[subject] - 120 * n / len(test)) < 1, subject


def test_answers_grade_with_accents_and_sentences(by_id: dict[str, object]) -> None:
    brazil = by_id["wf-capital-BR"]
    assert is_correct("Brasilia", brazil, grader="exact")
    assert is_correct("Brasília", brazil, grader="exact")
    assert is_correct("The capital of Brazil is Brasilia.", brazil)
    assert not is_correct("The capital of Brazil is Brasilia.", brazil, grader="exact")
    assert not is_correct("Rio de Janeiro", brazil)
    carbon = by_id["wf-element_number-Z6"]
    assert is_correct("The atomic number of carbon is 6.", carbon)
    assert not is_correct("12", carbon)


def test_multiple_choice_draws_from_the_same_family() -> None:
    test = examples("test")
    mc = add_distractors(test, k=3, seed=0)
    # the pool is the answer type: countries come from capital_country and city_country
    answers: dict[str, set[str]] = {}
    for ex in test:
        answers.setdefault(ex.meta["answer_type"], set()).add(ex.gold)
    for ex in mc:
        assert len(ex.choices) == 4 and ex.choices[ex.gold] == ex.meta["open_gold"]
        assert set(ex.choices) <= answers[ex.meta["answer_type"]], ex.id
    loaded = load_benchmark("world_facts_mc", split="elements_test", limit=5).examples
    assert all(ex.is_multiple_choice for ex in loaded)


def test_registered_and_shown_by_the_cli() -> None:
    from confalign.cli.datasets import datasets_app

    assert {"world_facts", "world_facts_mc"} <= set(BENCHMARKS.names())
    app = group(groups={"datasets": datasets_app})
    code, out, _ = run_app(app, ["datasets", "show", "world_facts", "--subject", "capital/1"])
    assert code == 0
    n = sum(ex.subject == "capital/1" for ex in examples("test"))
    assert out.startswith(f"world_facts: 3 of {n} examples")
    assert out.count("  answer: ") == 3 and "What is the capital of" in out
    code, out, _ = run_app(app, ["datasets", "list"])
    row = next(ln for ln in out.splitlines() if ln.startswith("world_facts "))
    assert "installed" in row and "638 (test)" in row


def test_a_continent_named_by_its_adjective_is_right() -> None:
    """ "located in the African continent" answers "Africa" for a reader; "American" alone
    names neither America, and a negated adjective is no answer."""
    from confalign.data import load_benchmark
    from confalign.data.grading import is_correct

    (kenya,) = [
        e
        for e in load_benchmark(
            "world_facts:train+world_facts:validation+world_facts:test"
        ).examples
        if e.id == "wf-continent-KE"
    ]
    assert is_correct("Kenya is located in the African continent.", kenya)
    assert is_correct("It is an East African country.", kenya)
    assert not is_correct("Kenya is not an African country.", kenya)
    assert not is_correct("Kenya is a European country.", kenya)
