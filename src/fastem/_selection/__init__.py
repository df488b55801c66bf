"""The machinery of :class:`fastem.selection.MixtureSelector`, one job per module.

grid (the candidates), starts (their initial parameters and runs), search
(the EM stages), criteria (evaluation, BIC/AIC/ICL, order, choice), ties
(orderings up to round-off), results (``results_``, ``estimators_``) and
checkpoint (the search's saved state). See docs/architecture.md.
"""
