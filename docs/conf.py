"""Sphinx configuration of fastem's documentation.

Build with ``python -m sphinx -W --keep-going -n -b html docs docs/_build/html`` (or
``make -C docs html``): warnings are errors, nitpicky cross-references, and numpydoc
validates the docstrings of every documented public name. The gallery in ``examples/`` is
executed during the build, so a broken example fails it. No network is used: there is no
intersphinx, and references to NumPy, SciPy, scikit-learn, pandas and Python's own types
are accepted unresolved (``nitpick_ignore_regex``) instead.
"""

import os
import re
from pathlib import Path

import fastem

HERE = Path(__file__).resolve().parent

project = "fastem"
author = "fastem developers"
copyright = "fastem developers"
release = fastem.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
# The PNGs at the top of docs/ are README's pictures, included by the guide pages.
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "sg_execution_times.rst"]

# --- strictness -------------------------------------------------------------------------
nitpicky = True
# No network in CI, so no intersphinx: other projects' names are left unlinked.
intersphinx_mapping = {}
_EXTERNAL = (
    r"(numpy|np|scipy|sklearn|pandas|pd|polars|pyarrow|dask|distributed|matplotlib|"
    r"mpl_toolkits|zarr|h5py|tqdm|threadpoolctl|numba|os|pathlib|collections|typing|"
    r"contextlib|dataclasses)(\..+)?"
)
_BUILTINS = (
    r"(int|float|bool|str|bytes|dict|list|tuple|set|object|callable|None|type|"
    r"Exception|ValueError|TypeError|KeyboardInterrupt|Iterator|Iterable|PathLike)"
)
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL),
    (r"py:.*", _BUILTINS),
    # numpydoc's default aliases point into other projects' inventories (python:int,
    # numpy:array_like, ...), which need intersphinx.
    (r".*", r"(python|numpy|scipy|matplotlib|sklearn|pandas):.*"),
]

# --- autodoc / autosummary --------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
add_module_names = False

# --- numpydoc ---------------------------------------------------------------------------
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = True
# Only names listed in the aliases become links; the prose of a type ("array-like of shape
# (n_samples, n_features)", "default=None") stays text.
numpydoc_xref_ignore = "all"
numpydoc_xref_aliases = {
    "GaussianMixture": "fastem.GaussianMixture",
    "BernoulliMixture": "fastem.BernoulliMixture",
    "KMeans": "fastem.KMeans",
    "MixtureSelector": "fastem.MixtureSelector",
    "MixtureImputer": "fastem.MixtureImputer",
    "Settings": "fastem._settings.Settings",
}
if hasattr(fastem, "TabularMixture"):
    numpydoc_xref_aliases["TabularMixture"] = "fastem.TabularMixture"
# Every check except: ES01 (an extended summary is optional), SA01 (See Also), EX01
# (Examples: the gallery and the guide hold them), RT02 (scikit-learn's style names the
# single returned value, e.g. ``self : object``) and PR03 (the parameters the mixtures
# share are documented once, in ``_params.py``, and substituted as one block after each
# estimator's own, so their order differs from the signature's, which is scikit-learn's).
numpydoc_validation_checks = {"all", "ES01", "SA01", "EX01", "RT02", "PR03"}
# Methods inherited unchanged from scikit-learn are documented by scikit-learn.
numpydoc_validation_exclude = {
    r"\.get_params$",
    r"\.set_params$",
    r"\.set_output$",
    r"\.get_metadata_routing$",
    r"\.set_\w+_request$",
}

# --- MyST -------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- sphinx-gallery ---------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("fastem",),
    "filename_pattern": r"/plot_",
    "abort_on_example_error": False,  # report every broken example, then fail the build
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "plot_gallery": os.environ.get("FASTEM_DOCS_PLOT_GALLERY", "True"),
}

# --- HTML -------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastem {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False


# --- scikit-learn's spelling in types ---------------------------------------------------
# A type such as ``ndarray of shape (n_features_in_,)`` names a fitted attribute; in
# reStructuredText a bare ``name_`` is a hyperlink reference, so wrap such names in
# backticks (as scikit-learn's own docstrings do) before numpydoc reads the docstring.
_TYPE_LINE = re.compile(r"^(\s*\*{0,2}\w+ : )(.*)$")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*_)(?![`\w])")


def _quote_attribute_names(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        match = _TYPE_LINE.match(line)
        if match:
            lines[i] = match[1] + _TRAILING_UNDERSCORE.sub(r"`\1`", match[2])


def setup(app):
    # Before numpydoc (priority 500) parses the sections.
    app.connect("autodoc-process-docstring", _quote_attribute_names, priority=400)
