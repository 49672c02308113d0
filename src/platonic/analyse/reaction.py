r"""Chemical reaction strings: parse, check the stoichiometry, match species to structures.

A reaction is written ``"BaO + TiO2 -> BaTiO3"`` (the arrow may also be ``"→"``). Each side
is a ``+``-separated list of terms ``[coefficient] formula``:

* the coefficient is a positive integer or decimal (``2``, ``0.5``; default 1), separated
  from the formula by optional spaces (``"2 H2"`` or ``"2H2"``);
* the formula is a sequence of element symbols and parenthesised groups, ``(...)`` or
  ``[...]``, each followed by an optional positive integer or decimal count
  (``"Ca3(PO4)2"``, ``"Na0.5CoO2"``).

Amounts are kept as exact fractions (:class:`fractions.Fraction`; decimals are exact
decimal fractions), so the balance check needs no tolerance: a reaction is balanced when,
for every element :math:`e`,

.. math:: \sum_{r \in \mathrm{reactants}} \nu_r\, n_{r,e} = \sum_{p \in \mathrm{products}} \nu_p\, n_{p,e},

with :math:`\nu` the coefficients and :math:`n_{s,e}` the number of atoms of :math:`e` in
one formula unit of species :math:`s`. :func:`parse_reaction` refuses an unbalanced
reaction and names every element that does not balance.

A structure stands for a species when its composition is a positive multiple of the
species' formula (its reduced formula is the species' reduced formula); the multiple is the
number of formula units in the cell (:func:`formula_units`), e.g. 2 for the 6-atom rutile
cell as ``TiO2``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping

from ase import Atoms
from ase.data import chemical_symbols
from platonic.errors import PlatonicError

ARROWS = ("->", "→")
_ELEMENTS = frozenset(chemical_symbols[1:])
_NUMBER = r"\d+(?:\.\d+)?"
_TERM = re.compile(rf"^(?P<coefficient>{_NUMBER})?\s*(?P<formula>\S.*)$")
_TOKEN = re.compile(rf"(?P<element>[A-Z][a-z]*)|(?P<open>[(\[])|(?P<close>[)\]])|(?P<count>{_NUMBER})")
_CLOSING = {"(": ")", "[": "]"}


class ReactionError(PlatonicError, ValueError):
    """A reaction string, a formula or a species-to-structure assignment that cannot be used."""


class FormulaError(ReactionError):
    """A chemical formula that cannot be parsed (unknown element, unmatched bracket, ...)."""


class UnbalancedReactionError(ReactionError):
    """A reaction whose two sides hold different numbers of atoms of some element."""


class CompositionMismatchError(ReactionError):
    """A structure whose composition is not a multiple of the species it should stand for."""


Composition = Mapping[str, Fraction]


def parse_formula(formula: str) -> dict[str, Fraction]:
    """Atoms of each element in one formula unit of ``formula``.

    Parameters
    ----------
    formula : str
        E.g. ``"BaTiO3"``, ``"Ca3(PO4)2"``, ``"Na0.5CoO2"``. Element symbols must be those
        of the periodic table (case-sensitive); counts are positive integers or decimals.

    Returns
    -------
    dict
        element symbol -> amount (exact :class:`~fractions.Fraction`), in order of first
        appearance; an element written twice (``"CH3COOH"``) is summed.

    Raises
    ------
    FormulaError
        Empty formula, unknown element, a count of zero, a misplaced count, unmatched
        brackets, an empty group, or any other character.
    """
    if not isinstance(formula, str):
        raise FormulaError(f"a formula must be a string, got {type(formula).__name__}")
    text = formula.strip()
    if not text:
        raise FormulaError("empty formula")
    # One counter per open bracket; the innermost group is the last one.
    groups: list[Counter] = [Counter()]
    brackets: list[str] = []
    last: Counter | None = None  # what a following count multiplies
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise FormulaError(f"unexpected character {text[position]!r} at position {position} in formula {formula!r}")
        position = match.end()
        if match["element"]:
            symbol = match["element"]
            if symbol not in _ELEMENTS:
                raise FormulaError(f"unknown element {symbol!r} in formula {formula!r}")
            last = Counter({symbol: Fraction(1)})
            groups[-1].update(last)
        elif match["open"]:
            brackets.append(match["open"])
            groups.append(Counter())
            last = None
        elif match["close"]:
            if not brackets or _CLOSING[brackets[-1]] != match["close"]:
                raise FormulaError(f"unmatched {match['close']!r} in formula {formula!r}")
            brackets.pop()
            inner = groups.pop()
            if not inner:
                raise FormulaError(f"empty group in formula {formula!r}")
            groups[-1].update(inner)
            last = inner
        else:
            count = Fraction(match["count"])
            if last is None:
                raise FormulaError(f"count {match['count']!r} follows no element or group in formula {formula!r}")
            if count == 0:
                raise FormulaError(f"count 0 in formula {formula!r}")
            # The item was already added once: add (count - 1) more copies of it.
            groups[-1].update({symbol: amount * (count - 1) for symbol, amount in last.items()})
            last = None
    if brackets:
        raise FormulaError(f"unclosed {brackets[-1]!r} in formula {formula!r}")
    return dict(groups[0])


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

    Parameters
    ----------
    text : str
        ``reactants ARROW products`` with exactly one arrow (``"->"`` or ``"→"``); each side a
        ``+``-separated list of ``[coefficient] formula`` terms (see the module docstring).

    Returns
    -------
    Reaction

    Raises
    ------
    ReactionError
        No arrow or more than one, an empty side or term, a zero coefficient.
    FormulaError
        A formula that cannot be parsed.
    UnbalancedReactionError
        The atoms of some element are not conserved; the message lists each such element
        with its reactant and product totals.
    """
    if not isinstance(text, str):
        raise ReactionError(f"a reaction must be a string, got {type(text).__name__}")
    pattern = "|".join(map(re.escape, ARROWS))
    sides = re.split(pattern, text)
    if len(sides) != 2:
        found = len(sides) - 1
        raise ReactionError(
            f"a reaction needs exactly one arrow ({' or '.join(map(repr, ARROWS))}), found {found} in {text!r}"
        )
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
    elements = list(dict.fromkeys([*left, *right]))
    unbalanced = [symbol for symbol in elements if left[symbol] != right[symbol]]
    if unbalanced:
        detail = "; ".join(
            f"{symbol}: {_format_amount(left[symbol])} in reactants, {_format_amount(right[symbol])} in products"
            for symbol in unbalanced
        )
        raise UnbalancedReactionError(f"unbalanced reaction {text!r}: {detail}")


def _format_amount(amount: Fraction) -> str:
    return str(amount.numerator) if amount.denominator == 1 else f"{float(amount):g}"


def formula_units(atoms: Atoms, composition: Composition, label: str | None = None) -> Fraction:
    """Number of formula units of ``composition`` in the cell of ``atoms``.

    The structure must contain exactly the elements of the formula, each in the same
    multiple ``m`` of its amount per formula unit: ``count_e(atoms) = m · n_e`` for every
    element ``e``. Then ``m`` (which need not be an integer for a formula such as
    ``"Ba2O2"``) is returned.

    Parameters
    ----------
    atoms : ase.Atoms
    composition : mapping
        element -> atoms per formula unit, e.g. from :func:`parse_formula`.
    label : str, optional
        A name for the structure in error messages (its empirical formula is always given).

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

    Returns
    -------
    dict
        formula as written in the reaction -> value.

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
