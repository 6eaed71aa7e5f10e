"""Every formula the drawing shows names real arguments: a typo in a register_op string fails here."""
import string

import pytest

import tinygraph as tg


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


@pytest.mark.parametrize("name", sorted(tg.registry()))
def test_every_placeholder_names_an_input_or_the_output(name):
    op = tg.registry()[name]
    allowed = set(op.arg_names) | {"out"}
    for template in (op.forward_formula, *op.backward_formulas):
        unknown = placeholders(template) - allowed
        assert not unknown, f"{name}: formula {template!r} names {sorted(unknown)}; inputs are {op.arg_names}"


@pytest.mark.parametrize("name", sorted(tg.registry()))
def test_each_backward_formula_is_about_its_own_input(name):
    op = tg.registry()[name]
    for arg, template in zip(op.arg_names, op.backward_formulas):
        assert "{" + arg + "}" in template, f"{name}: the backward formula for {arg!r} is {template!r}"


def test_a_misspelt_placeholder_is_caught():
    assert placeholders("δ{x} = δ{out} ⊙ {xx}") - {"x", "out"} == {"xx"}
