"""The ICS chart as data, and reading a stated age against it."""

import pytest

from rag.geology import CHART, PERIODS, SUBDIVISIONS, parse_age


@pytest.mark.parametrize(("text", "first", "last"), [
    ("Cretaceous", 145.0, 66.0),
    ("Late Cretaceous", 100.5, 66.0),  # the chart's Upper Cretaceous
    ("upper cretaceous", 100.5, 66.0),
    ("Early Jurassic", 201.4, 174.7),
    ("Pleistocene", 2.58, 0.0117),
    ("Late Pleistocene", 0.129, 0.0117),
    ("Maastrichtian", 72.1, 66.0),  # the last stage before the K-Pg boundary
    ("Late Permian", 259.51, 251.9),  # Lopingian, the end-Permian extinction
    ("Middle Miocene", 15.98, 11.63),
    ("Cenozoic", 66.0, 0.0),
    ("Ordovician", 485.4, 443.8),
    ("150", 150.0, 150.0),
    ("150 Ma", 150.0, 150.0),
    ("145-100", 145.0, 100.0),
    ("100 – 145 Ma", 145.0, 100.0),
    ("66 to 23.03", 66.0, 23.03),
])
def test_known_boundaries(text, first, last):
    age = parse_age(text)
    assert (age.first_ma, age.last_ma) == (first, last)
    assert age.input == text


@pytest.mark.parametrize("text", ["banana", "", "Late", "Late Maastrichtian", "5000",
                                  "Jurassic Park", "-5", "1e9"])
def test_unreadable_ages_say_what_is_accepted(text):
    with pytest.raises(ValueError) as error:
        parse_age(text)
    assert "Ma" in str(error.value)


def test_the_chart_nests_and_tiles():
    """Every unit lies inside its parent, and the parts of each parent meet end to end,
    oldest first, from the parent's start to its end (a typo in a boundary fails here)."""
    units = {name: (rank, start, end, parent) for name, rank, start, end, parent in CHART}
    assert len(units) == len(CHART), "a unit is listed twice"
    children: dict[str, list[tuple[float, float]]] = {}
    for name, (_, start, end, parent) in units.items():
        assert start > end, name
        if parent:
            _, p_start, p_end, _ = units[parent]
            assert p_start >= start and end >= p_end, name
            children.setdefault(parent, []).append((start, end))
    for parent, spans in children.items():
        spans.sort(reverse=True)
        _, p_start, p_end, _ = units[parent]
        assert spans[0][0] == p_start and spans[-1][1] == p_end, parent
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end == start, parent
    # The periods meet end to end, too.
    for (_, _, end), (_, start, _) in zip(PERIODS, PERIODS[1:], strict=False):
        assert end == start


def test_subdivisions_name_chart_units():
    names = {name for name, *_ in CHART}
    for unit, parts in SUBDIVISIONS.items():
        assert unit in names
        assert all(part in names for spans in parts.values() for part in spans)
