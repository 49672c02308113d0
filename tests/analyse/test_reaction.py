"""Reaction strings: parsing, the exact balance check, and matching species to structures."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from ase.build import bulk

from platonic.analyse.reaction import (
    CompositionMismatchError,
    FormulaError,
    Reaction,
    ReactionError,
    UnbalancedReactionError,
    assign_structures,
    formula_units,
    parse_formula,
    parse_reaction,
)
from platonic.datasets import case_study


@pytest.mark.parametrize(
    "formula, counted",
    [("BaTiO3", {"Ba": 1, "Ti": 1, "O": 3}), ("Na3MnCoNiO6", {"Na": 3, "Mn": 1, "Co": 1, "Ni": 1, "O": 6}),
     ("Ca3(PO4)2", {"Ca": 3, "P": 2, "O": 8}), ("Na0.5CoO2", {"Na": Fraction(1, 2), "Co": 1, "O": 2}),
     ("CH3COOH", {"C": 2, "H": 4, "O": 2}), ("K4[Fe(CN)6]", {"K": 4, "Fe": 1, "C": 6, "N": 6}),
     ("(NH4)2SO4", {"N": 2, "H": 8, "S": 1, "O": 4}), ("Fe0.95O", {"Fe": Fraction(19, 20), "O": 1}),
     ("((CH3)3Si)2O", {"C": 6, "H": 18, "Si": 2, "O": 1}),
     ("(Fe0.1Ni0.9)0.5O", {"Fe": Fraction(1, 20), "Ni": Fraction(9, 20), "O": 1})],
)
def test_formula_amounts_are_exact(formula, counted):
    """Hand-counted amounts, as exact fractions (pymatgen's floats such as 0.45000000000000007 recovered)."""
    assert parse_formula(formula) == {symbol: Fraction(amount) for symbol, amount in counted.items()}


@pytest.mark.parametrize(
    "formula, message",
    [("", "empty"), ("Xx2", "unknown element 'Xx'"), ("Ba(O", "cannot read"), ("BaO)", "cannot read"),
     ("2BaO", "cannot read"), ("Ba2 3O", "cannot read"), ("BaO0", "count 0 for O"), ("Ba()", "cannot read"),
     ("bao", "cannot read"), ("Ba-O", "cannot read")],
)
def test_malformed_formula_is_refused(formula, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula)


def test_formula_must_be_a_string():
    with pytest.raises(FormulaError, match="string"):
        parse_formula(["Ba", "O"])


def test_balanced_reaction_parses():
    reaction = parse_reaction("BaO + TiO2 -> BaTiO3")
    assert [species.formula for species in reaction.reactants] == ["BaO", "TiO2"]
    assert [species.formula for species in reaction.products] == ["BaTiO3"]
    assert all(species.coefficient == 1 for species in reaction.species)
    assert reaction.products[0].atoms_per_formula_unit == 5
    assert reaction.formulas == ["BaO", "TiO2", "BaTiO3"]


@pytest.mark.parametrize(
    "text, coefficients",
    [("2H2 + O2 -> 2 H2O", [2, 1, 2]), ("H2 + 0.5 O2 → H2O", [1, Fraction(1, 2), 1]),
     ("3 CaO + P2O5 -> Ca3(PO4)2", [3, 1, 1]), ("  Fe0.95O ->  0.95 Fe + 0.5 O2 ", [1, Fraction(95, 100), Fraction(1, 2)]),
     ("TiO2 -> TiO2", [1, 1])],
)
def test_coefficients_and_arrows(text, coefficients):
    reaction = parse_reaction(text)
    assert [species.coefficient for species in reaction.species] == coefficients


def test_string_form_parses_back_to_the_same_reaction():
    for text in ["BaO + TiO2 -> BaTiO3", "2H2 + O2 → 2H2O", "H2 + 0.5O2 -> H2O", "3 CaO + P2O5 -> Ca3(PO4)2"]:
        reaction = parse_reaction(text)
        assert parse_reaction(str(reaction)) == reaction


@pytest.mark.parametrize(
    "text, named",
    [("BaO + TiO2 -> BaTi2O3", ["Ti: 1 in reactants, 2 in products"]),
     ("H2 + O2 -> H2O", ["O: 2 in reactants, 1 in products"]),
     ("Fe + O2 -> Fe2O3", ["Fe: 1 in reactants, 2 in products", "O: 2 in reactants, 3 in products"]),
     ("BaO -> BaO + Ti", ["Ti: 0 in reactants, 1 in products"]),
     ("H2 + 0.4 O2 -> H2O", ["O: 0.8 in reactants, 1 in products"])],
)
def test_unbalanced_reaction_names_each_element(text, named):
    with pytest.raises(UnbalancedReactionError) as raised:
        parse_reaction(text)
    for part in named:
        assert part in str(raised.value)


def test_unbalanced_reaction_shows_the_balanced_coefficients():
    with pytest.raises(UnbalancedReactionError, match=r"balanced: H2 \+ 0.5 O2 -> H2O"):
        parse_reaction("H2 + O2 -> H2O")
    with pytest.raises(UnbalancedReactionError) as raised:  # no balance keeps every species: no hint
        parse_reaction("BaO -> BaO + Ti")
    assert "balanced:" not in str(raised.value)


@pytest.mark.parametrize(
    "text, message",
    [("BaO + TiO2 = BaTiO3", "exactly one arrow"), ("BaO -> TiO2 -> BaTiO3", "found 2"), ("-> BaO", "no reactants"),
     ("BaO -> ", "no products"), ("BaO + + TiO2 -> BaTiO3", "empty reactant term"), ("BaO -> BaO +", "empty product"),
     ("0 BaO + BaO -> BaO", "coefficient 0"), ("BaO + TiO2 -> BaTi(O3", "cannot read"),
     ("BaO + TiO2 -> BaTiO3 (", "cannot read"), ("Qq -> Qq", "unknown element"), ("2 -> 2", "no formula")],
)
def test_malformed_reaction_is_refused(text, message):
    with pytest.raises(ReactionError, match=message):
        parse_reaction(text)


def test_reaction_must_be_a_string():
    with pytest.raises(ReactionError, match="string"):
        parse_reaction(None)


def test_random_reactions_balance_exactly_and_break_when_perturbed():
    """Products built from the reactants' atoms always balance; changing one coefficient never does."""
    rng = np.random.default_rng(0)
    symbols = ["Li", "O", "Ti", "Ba", "Na", "Co", "Ni", "F"]
    for _ in range(40):
        reactants = []
        totals: dict[str, int] = {}
        for _ in range(rng.integers(1, 4)):
            chosen = rng.choice(symbols, size=rng.integers(1, 3), replace=False)
            counts = rng.integers(1, 5, size=len(chosen))
            coefficient = int(rng.integers(1, 4))
            reactants.append((coefficient, "".join(f"{s}{c}" for s, c in zip(chosen, counts))))
            for symbol, count in zip(chosen, counts):
                totals[symbol] = totals.get(symbol, 0) + coefficient * int(count)
        product = "".join(f"{symbol}{count}" for symbol, count in totals.items())
        left = " + ".join(f"{c} {f}" for c, f in reactants)
        parse_reaction(f"{left} -> {product}")
        with pytest.raises(UnbalancedReactionError):
            parse_reaction(f"{left} -> 2 {product}")


def test_formula_units_counts_cells():
    rutile = case_study("mp-2657")  # 6 atoms: two TiO2 units
    assert formula_units(rutile, parse_formula("TiO2")) == 2
    assert formula_units(rutile, parse_formula("Ti2O4")) == 1
    assert formula_units(rutile.repeat((2, 1, 3)), parse_formula("TiO2")) == 12
    assert formula_units(bulk("Cu", "fcc", a=3.6), parse_formula("Cu4")) == Fraction(1, 4)


def test_formula_units_refuses_other_compositions():
    rutile = case_study("mp-2657")
    with pytest.raises(CompositionMismatchError, match="elements"):
        formula_units(rutile, parse_formula("BaO"))
    with pytest.raises(CompositionMismatchError, match="not a multiple of the formula TiO3"):
        formula_units(rutile, parse_formula("TiO3"))
    with pytest.raises(CompositionMismatchError, match=r"rutile \(TiO2\)"):
        formula_units(rutile, parse_formula("Ti2O3"), label="rutile")


def test_assign_structures_matches_by_composition():
    reaction = parse_reaction("BaO + TiO2 -> BaTiO3")
    assigned = assign_structures(reaction, {"O2Ti": "rutile", "BaO": "rocksalt", "BaO3Ti": "perovskite", "Cu": "x"})
    assert assigned == {"BaO": "rocksalt", "TiO2": "rutile", "BaTiO3": "perovskite"}


def test_assign_structures_errors():
    reaction = parse_reaction("BaO + TiO2 -> BaTiO3")
    with pytest.raises(ReactionError, match="no structure given for 'TiO2'"):
        assign_structures(reaction, {"BaO": 1, "BaTiO3": 2, "Ti2O4": 3})
    with pytest.raises(ReactionError, match="several keys"):
        assign_structures(reaction, {"BaO": 1, "TiO2": 2, "O2Ti": 3, "BaTiO3": 4})
    with pytest.raises(FormulaError):
        assign_structures(reaction, {"BaO": 1, "TiO2": 2, "BaTiO3": 4, "rutile": 5})


def test_reaction_is_a_value():
    reaction = parse_reaction("BaO + TiO2 -> BaTiO3")
    assert isinstance(reaction, Reaction)
    assert reaction == parse_reaction("BaO+TiO2->BaTiO3")
