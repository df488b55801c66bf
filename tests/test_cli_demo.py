"""``fastem demo``: a generated fit, timed against scikit-learn."""

import json

import numpy as np

from test_cli_helpers import ok


# -- demo ----------------------------------------------------------------------------------
def test_demo_tiny(tmp_path):
    args = ["demo", "--n-samples", 3000, "--n-features", 3, "--k", 3, "--sklearn-iter", 2]
    result = ok(*args, cwd=tmp_path)
    for text in ("fitted components", "log-likelihood", "BIC", "per iteration", "speed-up"):
        assert text in result.stdout
    summary = json.loads(ok(*args, "--json", "-q", cwd=tmp_path).stdout)
    assert summary["n_samples"] == 3000 and summary["speedup"] > 0
    # Same start, same iterations: both libraries reach the same log-likelihood.
    assert summary["lower_bound_relative_difference"] < 1e-8
    np.testing.assert_allclose(summary["means"], summary["true_means"], atol=0.3)
    no_sklearn = ok("demo", "--n-samples", 2000, "--k", 2, "--no-sklearn", cwd=tmp_path).stdout
    assert "BIC" in no_sklearn and "speed-up" not in no_sklearn
