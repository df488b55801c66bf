"""
Choose the number of components by BIC and ICL
===============================================

:class:`fastem.MixtureSelector` fits every number of components and covariance type
(all of them advancing in the same passes over the data) and keeps the lowest criterion.
BIC rewards the likelihood and penalises parameters; ICL adds twice the entropy of the
responsibilities, so it prefers well separated components. Here two of the four
clusters overlap: BIC tends to keep them apart, ICL to merge them.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastem import GaussianMixture, MixtureSelector, plot

rng = np.random.default_rng(1)
centres = np.array([[0.0, 0.0], [7.0, 0.0], [0.0, 7.0], [1.6, 1.2]])
X = np.vstack([rng.normal(c, 1.0, size=(400, 2)) for c in centres])

common = dict(n_components=range(1, 6), covariance_type=["full", "spherical"])
by_bic = MixtureSelector(GaussianMixture(), criterion="bic", random_state=0, **common).fit(X)
by_icl = MixtureSelector(GaussianMixture(), criterion="icl", random_state=0, **common).fit(X)
print("BIC chooses", by_bic.best_params_)
print("ICL chooses", by_icl.best_params_)
print("passes over the data:", by_bic.n_passes_)

# %%
# Every candidate's criterion against K (the star marks the choice), then the chosen
# models over the data.
fig, axes = plt.subplots(2, 2, figsize=(10, 8))
plot.selection(by_bic, ax=axes[0, 0])
axes[0, 0].set_title("BIC")
plot.selection(by_icl, ax=axes[0, 1])
axes[0, 1].set_title("ICL")
plot.components(by_bic, X, ax=axes[1, 0])
axes[1, 0].set_title(f"BIC's choice: K={by_bic.best_params_['n_components']}")
plot.components(by_icl, X, ax=axes[1, 1])
axes[1, 1].set_title(f"ICL's choice: K={by_icl.best_params_['n_components']}")
fig.tight_layout()
plt.show()

# %%
# ``results_`` holds one entry per candidate, as ``GridSearchCV.cv_results_`` does.
r = by_bic.results_
for i in np.argsort(r["bic"])[:5]:
    print(
        f"K={r['n_components'][i]}  {r['covariance_type'][i]:9s}  BIC {r['bic'][i]:9.1f}"
        f"  ICL {r['icl'][i]:9.1f}  degenerate={r['degenerate'][i]}"
    )
