"""The geologic time scale the knowledge base speaks: periods and their boundaries in Ma."""

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
