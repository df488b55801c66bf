"""
Latent class analysis of a mixed table
======================================

A table of survey-like answers with columns of four kinds: a continuous measurement, a
yes/no answer, a categorical answer and a count, with some cells missing.
:class:`fastem.TabularMixture` fits a latent class model: within a class the columns are
independent, each with the distribution of its kind (normal, Bernoulli, categorical,
Poisson), inferred here from the DataFrame's dtypes. Missing cells are marginalised
exactly. ``describe()`` gives the class profiles, one column per class.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from fastem import TabularMixture

rng = np.random.default_rng(0)
n = 3000
truth = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
age = np.array([35.0, 55.0, 70.0])[truth] + rng.normal(0, 6, n)
smoker = rng.random(n) < np.array([0.1, 0.5, 0.2])[truth]
level_probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]])
transport = np.array([rng.choice(3, p=level_probs[k]) for k in truth])
visits = rng.poisson(np.array([0.5, 2.0, 6.0])[truth])
df = pd.DataFrame(
    {
        "age": age,
        "smoker": smoker,
        "transport": pd.Categorical.from_codes(transport, ["bike", "car", "bus"]),
        "visits": visits,
    }
)
df.loc[rng.random(n) < 0.1, "age"] = np.nan  # 10 % of the ages missing
df.loc[rng.random(n) < 0.1, "transport"] = np.nan
print(df.head())

tm = TabularMixture(n_components=3, n_init=3, random_state=0).fit(df)
print("column kinds:", tm.column_types_)
labels = tm.predict(df)
print(f"adjusted Rand index against the true classes: {adjusted_rand_score(truth, labels):.3f}")

# %%
# The class profiles: weights, then every column's statistics per class.
profiles = tm.describe()
print(profiles.round(3).to_string())

# %%
# The profiles drawn: the mean age, the share of smokers, the mean number of visits and
# the distribution of the transport answer, per class.
order = np.argsort(tm.weights_)[::-1]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
classes = [f"class {k}\n(w={tm.weights_[k]:.2f})" for k in order]
axes[0].bar(classes, tm.means_[order, 0])
axes[0].set_title("mean age")
axes[1].bar(classes, tm.probs_[order, 0])
axes[1].set_title("P(smoker)")
axes[2].bar(classes, tm.rates_[order, 0])
axes[2].set_title("visits (Poisson rate)")
bottom = np.zeros(len(order))
for level in ["bike", "car", "bus"]:
    share = profiles.loc[("transport", f"P({level})")].to_numpy()[order]
    axes[3].bar(classes, share, bottom=bottom, label=level)
    bottom += share
axes[3].set_title("transport")
axes[3].legend(fontsize="small")
for ax in axes:
    ax.tick_params(axis="x", labelsize="small")
fig.tight_layout()
plt.show()
