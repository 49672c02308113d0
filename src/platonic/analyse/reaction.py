r"""Chemical reaction strings: parse, check the stoichiometry, match species to structures.

A reaction is written ``"BaO + TiO2 -> BaTiO3"`` (the arrow may also be ``"→"``). Each side
is a ``+``-separated list of terms ``[coefficient] formula``: the coefficient is a positive
integer or decimal (``2``, ``0.5``; default 1), separated from the formula by optional spaces
(``"2 H2"`` or ``"2H2"``). Formulas are read by pymatgen's
:class:`~pymatgen.core.Composition` (``"Ca3(PO4)2"``, ``"Na0.5CoO2"``, ``"K4[Fe(CN)6]"``), with
two checks it does not make: every symbol written must be an element of the periodic table,
and none may vanish (``"BaO0"`` is refused rather than read as Ba).

Amounts are exact fractions (:class:`fractions.Fraction`, pymatgen's floats rounded to the
nearest fraction with denominator at most :data:`MAX_DENOMINATOR`, which recovers every decimal
written with up to six digits), so the balance check needs no tolerance: a reaction is
balanced when, for every element :math:`e`,

.. math:: \sum_{r \in \mathrm{reactants}} \nu_r\, n_{r,e} = \sum_{p \in \mathrm{products}} \nu_p\, n_{p,e},

with :math:`\nu` the coefficients and :math:`n_{s,e}` the number of atoms of :math:`e` in
one formula unit of species :math:`s`. :func:`parse_reaction` refuses an unbalanced
reaction, names every element that does not balance, and shows the balanced coefficients
when pymatgen's :class:`~pymatgen.analysis.reaction_calculator.Reaction` finds them.

A structure stands for a species when its composition is a positive multiple of the
species' formula; the multiple is the number of formula units in the cell
(:func:`formula_units`), e.g. 2 for the 6-atom rutile cell as ``TiO2``.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

from ase import Atoms
from pymatgen.core import Composition as PymatgenComposition
from pymatgen.core import Element

from platonic.errors import PlatonicError

ARROWS = ("->", "→")
#: Largest denominator when pymatgen's float amounts are turned back into exact fractions.
MAX_DENOMINATOR = 10**6
_TERM = re.compile(r"^(?P<coefficient>\d+(?:\.\d+)?)?\s*(?P<formula>\S.*)$")
_SYMBOL = re.compile(r"[A-Z][a-z]*")


class ReactionError(PlatonicError, ValueError):
    """A reaction string, a formula or a species-to-structure assignment that cannot be used."""


class FormulaError(ReactionError):
    """A chemical formula that cannot be read (unknown element, unmatched bracket, ...)."""


class UnbalancedReactionError(ReactionError):
    """A reaction whose two sides hold different numbers of atoms of some element."""


class CompositionMismatchError(ReactionError):
    """A structure whose composition is not a multiple of the species it should stand for."""


Composition = Mapping[str, Fraction]


def _exact(amount: float) -> Fraction:
    return Fraction(amount).limit_denominator(MAX_DENOMINATOR)


def parse_formula(formula: str) -> dict[str, Fraction]:
    """Atoms of each element in one formula unit of ``formula`` (read by pymatgen).

    Returns
    -------
    dict
        element symbol -> amount (exact :class:`~fractions.Fraction`); an element written twice
        (``"CH3COOH"``) is summed.

    Raises
    ------
    FormulaError
        Not a string, empty, unreadable by pymatgen, a symbol that is no element, or an element
        whose count is zero.
    """
    if not isinstance(formula, str):
        raise FormulaError(f"a formula must be a string, got {type(formula).__name__}")
    text = formula.strip()
    if not text:
        raise FormulaError("empty formula")
    unknown = [symbol for symbol in _SYMBOL.findall(text) if not Element.is_valid_symbol(symbol)]
    if unknown:
        raise FormulaError(f"unknown element {unknown[0]!r} in formula {formula!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            amounts = PymatgenComposition(text).get_el_amt_dict()
    except (ValueError, KeyError, TypeError) as error:
        raise FormulaError(f"cannot read formula {formula!r}: {error}") from None
    vanished = sorted(set(_SYMBOL.findall(text)) - set(amounts))
    if vanished:
        raise FormulaError(f"count 0 for {', '.join(vanished)} in formula {formula!r}")
    return {symbol: _exact(amount) for symbol, amount in amounts.items()}


@dataclass(frozen=True)
class Species:
    """One term of a reaction: ``coefficient`` formula units of ``formula``.

    Attributes
    ----------
    coefficient : Fraction
        Stoichiometric coefficient ν > 0.
    formula : str
        The formula as written in the reaction (the key a structure is looked up by).
    composition : dict
        element -> atoms per formula unit (see :func:`parse_formula`).
    """

    coefficient: Fraction
    formula: str
    composition: dict[str, Fraction]

    @property
    def atoms_per_formula_unit(self) -> Fraction:
        return sum(self.composition.values(), Fraction(0))

    def __str__(self) -> str:
        return self.formula if self.coefficient == 1 else f"{_format_amount(self.coefficient)} {self.formula}"


@dataclass(frozen=True)
class Reaction:
    """A balanced reaction ``Σ ν_r reactant_r -> Σ ν_p product_p`` (see :func:`parse_reaction`)."""

    reactants: tuple[Species, ...]
    products: tuple[Species, ...]

    @property
    def species(self) -> tuple[Species, ...]:
        """Reactants, then products."""
        return self.reactants + self.products

    @property
    def formulas(self) -> list[str]:
        """The distinct formulas as written, in order of appearance."""
        return list(dict.fromkeys(species.formula for species in self.species))

    def __str__(self) -> str:
        return " + ".join(map(str, self.reactants)) + " -> " + " + ".join(map(str, self.products))


def parse_reaction(text: str) -> Reaction:
    """Parse and balance-check a reaction string such as ``"BaO + TiO2 -> BaTiO3"``.

    Raises
    ------
    ReactionError
        No arrow or more than one, an empty side or term, a zero coefficient.
    FormulaError
        A formula that cannot be read.
    UnbalancedReactionError
        The atoms of some element are not conserved; the message lists each such element
        with its reactant and product totals.
    """
    if not isinstance(text, str):
        raise ReactionError(f"a reaction must be a string, got {type(text).__name__}")
    sides = re.split("|".join(map(re.escape, ARROWS)), text)
    if len(sides) != 2:
        raise ReactionError(f"a reaction needs exactly one arrow ({' or '.join(map(repr, ARROWS))}), "
                            f"found {len(sides) - 1} in {text!r}")
    reactants, products = (_parse_side(side, name, text) for side, name in zip(sides, ("reactant", "product")))
    reaction = Reaction(reactants=reactants, products=products)
    _check_balance(reaction, text)
    return reaction


def _parse_side(side: str, name: str, text: str) -> tuple[Species, ...]:
    if not side.strip():
        raise ReactionError(f"no {name}s in reaction {text!r}")
    terms = []
    for term in side.split("+"):
        term = term.strip()
        if not term:
            raise ReactionError(f"empty {name} term (a '+' with nothing beside it) in reaction {text!r}")
        match = _TERM.match(term)
        if match is None or not _SYMBOL.search(match["formula"]):
            raise FormulaError(f"term {term!r} of reaction {text!r} has no formula")
        coefficient = Fraction(match["coefficient"]) if match["coefficient"] else Fraction(1)
        if coefficient == 0:
            raise ReactionError(f"coefficient 0 for {match['formula']!r} in reaction {text!r}")
        formula = match["formula"].strip()
        terms.append(Species(coefficient=coefficient, formula=formula, composition=parse_formula(formula)))
    return tuple(terms)


def _side_totals(side: tuple[Species, ...]) -> Counter:
    totals: Counter = Counter()
    for species in side:
        totals.update({symbol: species.coefficient * amount for symbol, amount in species.composition.items()})
    return totals


def _check_balance(reaction: Reaction, text: str) -> None:
    left, right = _side_totals(reaction.reactants), _side_totals(reaction.products)
    unbalanced = [symbol for symbol in dict.fromkeys([*left, *right]) if left[symbol] != right[symbol]]
    if unbalanced:
        detail = "; ".join(
            f"{symbol}: {_format_amount(left[symbol])} in reactants, {_format_amount(right[symbol])} in products"
            for symbol in unbalanced
        )
        raise UnbalancedReactionError(f"unbalanced reaction {text!r}: {detail}{_balanced_hint(reaction)}")


def _balanced_hint(reaction: Reaction) -> str:
    """pymatgen's balanced version of the same species, when it finds one with every species kept."""
    from pymatgen.analysis.reaction_calculator import Reaction as PymatgenReaction

    def side(species):
        return [PymatgenComposition({k: float(v) for k, v in s.composition.items()}) for s in species]

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            balanced = PymatgenReaction(side(reaction.reactants), side(reaction.products))
    except Exception:  # pymatgen raises its own ReactionError (or others) when no balance exists
        return ""
    coefficients = balanced.coeffs
    if len(coefficients) != len(reaction.species) or (abs(coefficients) < 1e-8).any():
        return ""
    return f" (balanced: {balanced})"


def _format_amount(amount: Fraction) -> str:
    return str(amount.numerator) if amount.denominator == 1 else f"{float(amount):g}"


def formula_units(atoms: Atoms, composition: Composition, label: str | None = None) -> Fraction:
    """Number of formula units of ``composition`` in the cell of ``atoms``.

    The structure must contain exactly the elements of the formula, each in the same
    multiple ``m`` of its amount per formula unit: ``count_e(atoms) = m · n_e`` for every
    element ``e``. Then ``m`` (which need not be an integer for a formula such as
    ``"Ba2O2"``) is returned.

    Raises
    ------
    CompositionMismatchError
        If the elements differ, or the counts are not one common multiple of the formula.
    """
    if not composition:
        raise CompositionMismatchError("empty composition")
    counts = Counter(atoms.get_chemical_symbols())
    found = empirical_formula(atoms)
    name = found if label is None else f"{label} ({found})"
    wanted = "".join(f"{symbol}{'' if amount == 1 else _format_amount(Fraction(amount))}"
                     for symbol, amount in composition.items())
    if set(counts) != set(composition):
        raise CompositionMismatchError(
            f"structure {name} has elements {sorted(counts)}, the formula {wanted} has {sorted(composition)}"
        )
    multiples = {symbol: Fraction(counts[symbol]) / Fraction(amount) for symbol, amount in composition.items()}
    if len(set(multiples.values())) != 1:
        raise CompositionMismatchError(
            f"structure {name} is not a multiple of the formula {wanted}: element counts {dict(counts)}"
        )
    return next(iter(multiples.values()))


def empirical_formula(atoms: Atoms) -> str:
    """Reduced formula of a structure, metals first (ASE's ``"metal"`` mode): ``"BaTiO3"``."""
    return atoms.get_chemical_formula(mode="metal", empirical=True)


def assign_structures(reaction: Reaction, structures: Mapping[str, object]) -> dict[str, object]:
    """Map each formula of ``reaction`` to its entry of ``structures``.

    Keys of ``structures`` are formulas; a key matches a species when it has the same
    composition per formula unit (``"TiO2"`` matches ``"O2Ti"``), not merely the same
    reduced formula (``"Ti2O4"`` does not match ``"TiO2"``: the formula unit differs).
    Values are passed through untouched (Atoms, ids, ...). Entries no species needs are
    allowed.

    Raises
    ------
    ReactionError
        A species without a structure, or one matched by two keys.
    FormulaError
        A key that is not a formula.
    """
    by_composition: dict[frozenset, list[str]] = {}
    for key in structures:
        by_composition.setdefault(frozenset(parse_formula(key).items()), []).append(key)
    assigned = {}
    for species in reaction.species:
        keys = by_composition.get(frozenset(species.composition.items()), [])
        if not keys:
            raise ReactionError(
                f"no structure given for {species.formula!r} in reaction {str(reaction)!r}; "
                f"structures are given for {list(structures)}"
            )
        if len(keys) > 1:
            raise ReactionError(f"{species.formula!r} is matched by several keys: {keys}")
        assigned[species.formula] = structures[keys[0]]
    return assigned
