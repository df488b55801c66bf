"""
DataFrames, pipelines, saving and loading
=========================================

fastem's estimators are scikit-learn estimators: they read pandas DataFrames (and set
``feature_names_in_``), work in a ``Pipeline`` and with ``clone``, take
``sample_weight``, and save to a portable ``.npz`` file that :func:`fastem.load` reads
back without running code from it. Here a mixture clusters the standardised
measurements of scikit-learn's wine data set.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastem

wine = load_wine(as_frame=True)
df = wine.data  # a pandas DataFrame, 178 rows x 13 columns
model = make_pipeline(
    StandardScaler(), fastem.GaussianMixture(3, covariance_type="diag", random_state=0)
).set_output(transform="pandas")  # the scaler hands the mixture a DataFrame
labels = model.fit_predict(df)
gm = model[-1]
print("features:", list(gm.feature_names_in_[:4]), "...")
print(f"adjusted Rand index against the cultivars: {adjusted_rand_score(wine.target, labels):.3f}")

# %%
# Save the fitted mixture and load it back: predictions agree exactly.
directory = tempfile.TemporaryDirectory()
path = Path(directory.name) / "wine.npz"
gm.save(path)
same = fastem.load(path)
scaled = model[:-1].transform(df)
print(
    type(same).__name__,
    "predicts the same:",
    np.array_equal(same.predict(scaled), gm.predict(scaled)),
)
directory.cleanup()

# %%
# The posterior probability of each component for every bottle, sorted by cultivar.
proba = model.predict_proba(df)
order = np.argsort(wine.target, kind="stable")
fig, ax = plt.subplots(figsize=(8, 2.8))
ax.imshow(proba[order].T, aspect="auto", cmap="Blues", interpolation="nearest")
ax.set_xlabel("bottles, sorted by cultivar")
ax.set_ylabel("component")
ax.set_yticks(range(3))
fig.tight_layout()
plt.show()
