import pytest

from sciml.naming import canonical_number, cell_id, format_number, parse_cell_id


@pytest.mark.parametrize(
    "value, text",
    [(2, "2"), (2.0, "2"), (0.5, "0.5"), (1e-3, "0.001"), (25000, "25000"), (1e-5, "1e-05"), (-3.0, "-3")],
)
def test_numbers_have_one_spelling(value, text):
    assert format_number(value) == text


def test_integral_floats_become_ints():
    assert type(canonical_number(7.0)) is int
    assert type(canonical_number(7.5)) is float


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), True])
def test_bad_grid_values_are_rejected(bad):
    with pytest.raises((ValueError, TypeError)):
        canonical_number(bad)


def test_cell_id_round_trip():
    axes = {"beta": 30.0, "n_f": 1000}
    text = cell_id(axes)
    assert text == "beta=30__n_f=1000"
    assert parse_cell_id(text) == {"beta": 30, "n_f": 1000}
    assert parse_cell_id(cell_id({"rho": 0.25, "n_f": 5})) == {"rho": 0.25, "n_f": 5}


def test_malformed_cell_id():
    with pytest.raises(ValueError, match="malformed cell id"):
        parse_cell_id("beta5")
