"""The geologic time scale: the periods the knowledge base speaks, and the ICS chart below
them (epochs, stages, Early/Middle/Late) that a stated age is read against, in Ma."""

import re
from dataclasses import dataclass

# (name, start Ma, end Ma), oldest first; ICS chart 2023/09. Ediacaran is the last part of
# the Proterozoic, so "Proterozoic" here means the eon before the Ediacaran.
PERIODS: tuple[tuple[str, float, float], ...] = (
    ("Archean", 4000.0, 2500.0),
    ("Proterozoic", 2500.0, 635.0),
    ("Ediacaran", 635.0, 538.8),
    ("Cambrian", 538.8, 485.4),
    ("Ordovician", 485.4, 443.8),
    ("Silurian", 443.8, 419.2),
    ("Devonian", 419.2, 358.9),
    ("Carboniferous", 358.9, 298.9),
    ("Permian", 298.9, 251.9),
    ("Triassic", 251.9, 201.4),
    ("Jurassic", 201.4, 145.0),
    ("Cretaceous", 145.0, 66.0),
    ("Paleogene", 66.0, 23.03),
    ("Neogene", 23.03, 2.58),
    ("Quaternary", 2.58, 0.0),
)
PERIOD_NAMES = tuple(name for name, _, _ in PERIODS)


def period_at(ma: float, *, ending: bool = False) -> str:
    """The period holding `ma`; at a boundary the older one when `ending` (a last appearance)."""
    if not 0 <= ma <= PERIODS[0][1]:
        raise ValueError(f"{ma} Ma is outside the time scale (0–{PERIODS[0][1]:g} Ma)")
    for name, start, end in PERIODS:
        if (end <= ma < start) if ending else (end < ma <= start):
            return name
    return PERIODS[-1][0]  # 0 Ma, a first appearance today


def periods_between(first_ma: float, last_ma: float) -> list[str]:
    """Every period from the one holding `first_ma` to the one holding `last_ma`, oldest first."""
    if first_ma < last_ma:
        raise ValueError(f"first appearance {first_ma} Ma is younger than last {last_ma} Ma")
    first = PERIOD_NAMES.index(period_at(first_ma))
    last = PERIOD_NAMES.index(period_at(last_ma, ending=True))
    return list(PERIOD_NAMES[first : max(first, last) + 1])


# The ICS chart below the periods (2023/09), as data: (name, rank, start Ma, end Ma, parent).
# Lower/Upper series are named as the chart names them; "Early"/"Late" read as those.
CHART: tuple[tuple[str, str, float, float, str], ...] = (
    ("Phanerozoic", "eon", 538.8, 0.0, ""),
    ("Precambrian", "supereon", 4000.0, 538.8, ""),
    ("Paleozoic", "era", 538.8, 251.9, "Phanerozoic"),
    ("Mesozoic", "era", 251.9, 66.0, "Phanerozoic"),
    ("Cenozoic", "era", 66.0, 0.0, "Phanerozoic"),
    *((name, "period", start, end, "") for name, start, end in PERIODS),
    # Cambrian
    ("Terreneuvian", "epoch", 538.8, 521.0, "Cambrian"),
    ("Fortunian", "stage", 538.8, 529.0, "Terreneuvian"),
    ("Cambrian Stage 2", "stage", 529.0, 521.0, "Terreneuvian"),
    ("Cambrian Series 2", "epoch", 521.0, 509.0, "Cambrian"),
    ("Cambrian Stage 3", "stage", 521.0, 514.0, "Cambrian Series 2"),
    ("Cambrian Stage 4", "stage", 514.0, 509.0, "Cambrian Series 2"),
    ("Miaolingian", "epoch", 509.0, 497.0, "Cambrian"),
    ("Wuliuan", "stage", 509.0, 504.5, "Miaolingian"),
    ("Drumian", "stage", 504.5, 500.5, "Miaolingian"),
    ("Guzhangian", "stage", 500.5, 497.0, "Miaolingian"),
    ("Furongian", "epoch", 497.0, 485.4, "Cambrian"),
    ("Paibian", "stage", 497.0, 494.2, "Furongian"),
    ("Jiangshanian", "stage", 494.2, 491.0, "Furongian"),
    ("Cambrian Stage 10", "stage", 491.0, 485.4, "Furongian"),
    # Ordovician
    ("Lower Ordovician", "epoch", 485.4, 470.0, "Ordovician"),
    ("Tremadocian", "stage", 485.4, 477.7, "Lower Ordovician"),
    ("Floian", "stage", 477.7, 470.0, "Lower Ordovician"),
    ("Middle Ordovician", "epoch", 470.0, 458.4, "Ordovician"),
    ("Dapingian", "stage", 470.0, 467.3, "Middle Ordovician"),
    ("Darriwilian", "stage", 467.3, 458.4, "Middle Ordovician"),
    ("Upper Ordovician", "epoch", 458.4, 443.8, "Ordovician"),
    ("Sandbian", "stage", 458.4, 453.0, "Upper Ordovician"),
    ("Katian", "stage", 453.0, 445.2, "Upper Ordovician"),
    ("Hirnantian", "stage", 445.2, 443.8, "Upper Ordovician"),
    # Silurian
    ("Llandovery", "epoch", 443.8, 433.4, "Silurian"),
    ("Rhuddanian", "stage", 443.8, 440.8, "Llandovery"),
    ("Aeronian", "stage", 440.8, 438.5, "Llandovery"),
    ("Telychian", "stage", 438.5, 433.4, "Llandovery"),
    ("Wenlock", "epoch", 433.4, 427.4, "Silurian"),
    ("Sheinwoodian", "stage", 433.4, 430.5, "Wenlock"),
    ("Homerian", "stage", 430.5, 427.4, "Wenlock"),
    ("Ludlow", "epoch", 427.4, 423.0, "Silurian"),
    ("Gorstian", "stage", 427.4, 425.6, "Ludlow"),
    ("Ludfordian", "stage", 425.6, 423.0, "Ludlow"),
    ("Pridoli", "epoch", 423.0, 419.2, "Silurian"),
    # Devonian
    ("Lower Devonian", "epoch", 419.2, 393.3, "Devonian"),
    ("Lochkovian", "stage", 419.2, 410.8, "Lower Devonian"),
    ("Pragian", "stage", 410.8, 407.6, "Lower Devonian"),
    ("Emsian", "stage", 407.6, 393.3, "Lower Devonian"),
    ("Middle Devonian", "epoch", 393.3, 382.7, "Devonian"),
    ("Eifelian", "stage", 393.3, 387.7, "Middle Devonian"),
    ("Givetian", "stage", 387.7, 382.7, "Middle Devonian"),
    ("Upper Devonian", "epoch", 382.7, 358.9, "Devonian"),
    ("Frasnian", "stage", 382.7, 372.2, "Upper Devonian"),
    ("Famennian", "stage", 372.2, 358.9, "Upper Devonian"),
    # Carboniferous
    ("Mississippian", "epoch", 358.9, 323.2, "Carboniferous"),
    ("Tournaisian", "stage", 358.9, 346.7, "Mississippian"),
    ("Visean", "stage", 346.7, 330.9, "Mississippian"),
    ("Serpukhovian", "stage", 330.9, 323.2, "Mississippian"),
    ("Pennsylvanian", "epoch", 323.2, 298.9, "Carboniferous"),
    ("Bashkirian", "stage", 323.2, 315.2, "Pennsylvanian"),
    ("Moscovian", "stage", 315.2, 307.0, "Pennsylvanian"),
    ("Kasimovian", "stage", 307.0, 303.7, "Pennsylvanian"),
    ("Gzhelian", "stage", 303.7, 298.9, "Pennsylvanian"),
    # Permian
    ("Cisuralian", "epoch", 298.9, 273.01, "Permian"),
    ("Asselian", "stage", 298.9, 293.52, "Cisuralian"),
    ("Sakmarian", "stage", 293.52, 290.1, "Cisuralian"),
    ("Artinskian", "stage", 290.1, 283.5, "Cisuralian"),
    ("Kungurian", "stage", 283.5, 273.01, "Cisuralian"),
    ("Guadalupian", "epoch", 273.01, 259.51, "Permian"),
    ("Roadian", "stage", 273.01, 266.9, "Guadalupian"),
    ("Wordian", "stage", 266.9, 264.28, "Guadalupian"),
    ("Capitanian", "stage", 264.28, 259.51, "Guadalupian"),
    ("Lopingian", "epoch", 259.51, 251.9, "Permian"),
    ("Wuchiapingian", "stage", 259.51, 254.14, "Lopingian"),
    ("Changhsingian", "stage", 254.14, 251.9, "Lopingian"),
    # Triassic
    ("Lower Triassic", "epoch", 251.9, 247.2, "Triassic"),
    ("Induan", "stage", 251.9, 251.2, "Lower Triassic"),
    ("Olenekian", "stage", 251.2, 247.2, "Lower Triassic"),
    ("Middle Triassic", "epoch", 247.2, 237.0, "Triassic"),
    ("Anisian", "stage", 247.2, 242.0, "Middle Triassic"),
    ("Ladinian", "stage", 242.0, 237.0, "Middle Triassic"),
    ("Upper Triassic", "epoch", 237.0, 201.4, "Triassic"),
    ("Carnian", "stage", 237.0, 227.0, "Upper Triassic"),
    ("Norian", "stage", 227.0, 208.5, "Upper Triassic"),
    ("Rhaetian", "stage", 208.5, 201.4, "Upper Triassic"),
    # Jurassic
    ("Lower Jurassic", "epoch", 201.4, 174.7, "Jurassic"),
    ("Hettangian", "stage", 201.4, 199.5, "Lower Jurassic"),
    ("Sinemurian", "stage", 199.5, 192.9, "Lower Jurassic"),
    ("Pliensbachian", "stage", 192.9, 184.2, "Lower Jurassic"),
    ("Toarcian", "stage", 184.2, 174.7, "Lower Jurassic"),
    ("Middle Jurassic", "epoch", 174.7, 161.5, "Jurassic"),
    ("Aalenian", "stage", 174.7, 170.9, "Middle Jurassic"),
    ("Bajocian", "stage", 170.9, 168.2, "Middle Jurassic"),
    ("Bathonian", "stage", 168.2, 165.3, "Middle Jurassic"),
    ("Callovian", "stage", 165.3, 161.5, "Middle Jurassic"),
    ("Upper Jurassic", "epoch", 161.5, 145.0, "Jurassic"),
    ("Oxfordian", "stage", 161.5, 154.8, "Upper Jurassic"),
    ("Kimmeridgian", "stage", 154.8, 149.2, "Upper Jurassic"),
    ("Tithonian", "stage", 149.2, 145.0, "Upper Jurassic"),
    # Cretaceous
    ("Lower Cretaceous", "epoch", 145.0, 100.5, "Cretaceous"),
    ("Berriasian", "stage", 145.0, 139.8, "Lower Cretaceous"),
    ("Valanginian", "stage", 139.8, 132.6, "Lower Cretaceous"),
    ("Hauterivian", "stage", 132.6, 125.77, "Lower Cretaceous"),
    ("Barremian", "stage", 125.77, 121.4, "Lower Cretaceous"),
    ("Aptian", "stage", 121.4, 113.0, "Lower Cretaceous"),
    ("Albian", "stage", 113.0, 100.5, "Lower Cretaceous"),
    ("Upper Cretaceous", "epoch", 100.5, 66.0, "Cretaceous"),
    ("Cenomanian", "stage", 100.5, 93.9, "Upper Cretaceous"),
    ("Turonian", "stage", 93.9, 89.8, "Upper Cretaceous"),
    ("Coniacian", "stage", 89.8, 86.3, "Upper Cretaceous"),
    ("Santonian", "stage", 86.3, 83.6, "Upper Cretaceous"),
    ("Campanian", "stage", 83.6, 72.1, "Upper Cretaceous"),
    ("Maastrichtian", "stage", 72.1, 66.0, "Upper Cretaceous"),
    # Paleogene
    ("Paleocene", "epoch", 66.0, 56.0, "Paleogene"),
    ("Danian", "stage", 66.0, 61.6, "Paleocene"),
    ("Selandian", "stage", 61.6, 59.2, "Paleocene"),
    ("Thanetian", "stage", 59.2, 56.0, "Paleocene"),
    ("Eocene", "epoch", 56.0, 33.9, "Paleogene"),
    ("Ypresian", "stage", 56.0, 47.8, "Eocene"),
    ("Lutetian", "stage", 47.8, 41.2, "Eocene"),
    ("Bartonian", "stage", 41.2, 37.71, "Eocene"),
    ("Priabonian", "stage", 37.71, 33.9, "Eocene"),
    ("Oligocene", "epoch", 33.9, 23.03, "Paleogene"),
    ("Rupelian", "stage", 33.9, 27.82, "Oligocene"),
    ("Chattian", "stage", 27.82, 23.03, "Oligocene"),
    # Neogene
    ("Miocene", "epoch", 23.03, 5.333, "Neogene"),
    ("Aquitanian", "stage", 23.03, 20.44, "Miocene"),
    ("Burdigalian", "stage", 20.44, 15.98, "Miocene"),
    ("Langhian", "stage", 15.98, 13.82, "Miocene"),
    ("Serravallian", "stage", 13.82, 11.63, "Miocene"),
    ("Tortonian", "stage", 11.63, 7.246, "Miocene"),
    ("Messinian", "stage", 7.246, 5.333, "Miocene"),
    ("Pliocene", "epoch", 5.333, 2.58, "Neogene"),
    ("Zanclean", "stage", 5.333, 3.6, "Pliocene"),
    ("Piacenzian", "stage", 3.6, 2.58, "Pliocene"),
    # Quaternary
    ("Pleistocene", "epoch", 2.58, 0.0117, "Quaternary"),
    ("Gelasian", "stage", 2.58, 1.8, "Pleistocene"),
    ("Calabrian", "stage", 1.8, 0.774, "Pleistocene"),
    ("Chibanian", "stage", 0.774, 0.129, "Pleistocene"),
    ("Upper Pleistocene", "stage", 0.129, 0.0117, "Pleistocene"),
    ("Holocene", "epoch", 0.0117, 0.0, "Quaternary"),
    ("Greenlandian", "stage", 0.0117, 0.0082, "Holocene"),
    ("Northgrippian", "stage", 0.0082, 0.0042, "Holocene"),
    ("Meghalayan", "stage", 0.0042, 0.0, "Holocene"),
)

# Early/Middle/Late of a unit whose chart parts are not named Lower/Middle/Upper <unit>: the
# parts each spans, in the use of the literature (e.g. "Late Permian" = Lopingian).
SUBDIVISIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "Cambrian": {"early": ("Terreneuvian", "Cambrian Series 2"), "middle": ("Miaolingian",),
                 "late": ("Furongian",)},
    "Silurian": {"early": ("Llandovery", "Wenlock"), "late": ("Ludlow", "Pridoli")},
    "Carboniferous": {"early": ("Mississippian",), "late": ("Pennsylvanian",)},
    "Permian": {"early": ("Cisuralian",), "middle": ("Guadalupian",), "late": ("Lopingian",)},
    "Paleogene": {"early": ("Paleocene",), "middle": ("Eocene",), "late": ("Oligocene",)},
    "Neogene": {"early": ("Miocene",), "late": ("Pliocene",)},
    "Quaternary": {"early": ("Pleistocene",), "late": ("Holocene",)},
    "Paleocene": {"early": ("Danian",), "middle": ("Selandian",), "late": ("Thanetian",)},
    "Eocene": {"early": ("Ypresian",), "middle": ("Lutetian", "Bartonian"),
               "late": ("Priabonian",)},
    "Oligocene": {"early": ("Rupelian",), "late": ("Chattian",)},
    "Miocene": {"early": ("Aquitanian", "Burdigalian"), "middle": ("Langhian", "Serravallian"),
                "late": ("Tortonian", "Messinian")},
    "Pliocene": {"early": ("Zanclean",), "late": ("Piacenzian",)},
    "Pleistocene": {"early": ("Gelasian", "Calabrian"), "middle": ("Chibanian",),
                    "late": ("Upper Pleistocene",)},
    "Holocene": {"early": ("Greenlandian",), "middle": ("Northgrippian",),
                 "late": ("Meghalayan",)},
}
_MODIFIERS = {"early": "early", "lower": "early", "middle": "middle", "mid": "middle",
              "late": "late", "upper": "late"}
_CHART = {name.casefold(): (name, start, end) for name, _, start, end, _ in CHART}


@dataclass(frozen=True)
class AgeInterval:
    """A stated age as the chart reads it: `first_ma` ≥ `last_ma`."""

    input: str
    first_ma: float
    last_ma: float
    name: str | None  # the chart unit it names, e.g. "Upper Cretaceous"; None for numbers

    def describe(self) -> str:
        span = (f"{self.first_ma:g} Ma" if self.first_ma == self.last_ma
                else f"{self.first_ma:g}–{self.last_ma:g} Ma")
        return f"{self.name} ({span})" if self.name else span

    def overlaps(self, first_ma: float, last_ma: float) -> bool:
        """Whether a range [first_ma, last_ma] shares time with this age. Touching ends do
        not count: a group that ends at the K-Pg boundary (66.0 Ma) is not known from the
        Paleogene, which begins there. A single number is a moment, so it may sit on an end."""
        if self.first_ma == self.last_ma:
            return first_ma >= self.last_ma and last_ma <= self.first_ma
        return first_ma > self.last_ma and last_ma < self.first_ma


AGE_FORMATS = ("a period, epoch or stage of the ICS chart, optionally with Early, Middle or "
               "Late ('Jurassic', 'Late Cretaceous', 'Pleistocene', 'Maastrichtian'), a number "
               "in Ma ('150') or a range in Ma ('145-100')")
_NUMBER = r"(\d{1,4}(?:\.\d{1,4})?)"
_RANGE = re.compile(rf"^{_NUMBER}\s*(?:ma)?\s*(?:-|–|—|to)\s*{_NUMBER}\s*(?:ma)?$")
_SINGLE = re.compile(rf"^{_NUMBER}\s*(?:ma)?$")
_OLDEST = PERIODS[0][1]


def parse_age(text: str) -> AgeInterval:
    """A stated age as an interval in Ma; ValueError (saying what is accepted) otherwise."""
    cleaned = " ".join(text.split())
    folded = cleaned.casefold()
    if match := _RANGE.match(folded):
        a, b = float(match[1]), float(match[2])
        return _checked(AgeInterval(cleaned, max(a, b), min(a, b), None))
    if match := _SINGLE.match(folded):
        ma = float(match[1])
        return _checked(AgeInterval(cleaned, ma, ma, None))
    unit = _unit(folded)
    if unit is None:
        raise ValueError(f"cannot read {cleaned[:60]!r} as an age; give {AGE_FORMATS}")
    name, first, last = unit
    return AgeInterval(cleaned, first, last, name)


def _checked(age: AgeInterval) -> AgeInterval:
    if age.first_ma > _OLDEST:
        raise ValueError(f"{age.first_ma:g} Ma is older than the time scale ({_OLDEST:g} Ma)")
    return age


def _unit(folded: str) -> tuple[str, float, float] | None:
    if folded in _CHART:
        return _CHART[folded]
    modifier, _, rest = folded.partition(" ")
    part = _MODIFIERS.get(modifier)
    if part is None or rest not in _CHART:
        return None
    name = _CHART[rest][0]
    named = {"early": "lower", "middle": "middle", "late": "upper"}[part]
    if f"{named} {rest}" in _CHART:  # "Late Cretaceous" is the chart's Upper Cretaceous
        return _CHART[f"{named} {rest}"]
    parts = SUBDIVISIONS.get(name, {}).get(part)
    if parts is None:
        return None
    return (f"{part.capitalize()} {name}", max(_CHART[p.casefold()][1] for p in parts),
            min(_CHART[p.casefold()][2] for p in parts))
