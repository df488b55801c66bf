"""The layering of docs/architecture.md, checked on the source: imports run one way.

kernels <- families <- drivers <- estimators <- (selection, plots) <- cli, counting imports inside
functions too; ``fastem.kernels`` imports nothing of fastem outside itself.
"""

import ast
from pathlib import Path

import pytest

import fastem

PACKAGE = Path(fastem.__file__).parent

#: Layer of every module (by dotted name below ``fastem``); a module may import
#: its own layer or lower ones.
LAYERS = {
    "_settings": 0,
    "_version": 0,
    "_compat": 1,
    "_stats": 1,
    "_threads": 1,
    "kernels": 2,
    "families": 3,
    "_sources": 4,
    "_file_sources": 4,
    "_iterable_source": 4,
    "_make_source": 4,
    "_init": 4,
    "_moments": 4,
    "_seeding": 4,
    "_lloyd": 4,
    "_tables": 4,
    "_table_columns": 4,
    "_table_inference": 4,
    # TabularMixture's k-means start on the table embedding (an initialisation).
    "_tabular_init": 4,
    "_drivers": 4,
    "_progress": 4,
    "_io": 4,
    "_checkpoint": 4,
    # Many EM runs in the same passes: a driver (the estimators' n_init, the selector).
    "_multi": 4,
    "_multi_init": 4,
    "_passes": 4,
    "_params": 5,
    "_verbose": 5,
    "_online": 5,
    # TabularMixture's schema and input (a mixin of the estimator, like _online).
    "_tabular_input": 5,
    # The other mixins of the estimator base (fastem._mixture.Mixture).
    "_inputs": 5,
    "_fitting": 5,
    "_restarts": 5,
    "_prediction": 5,
    "_sampling": 5,
    # KMeans's mixins: its input checks and its fit over a source.
    "_kmeans_checks": 5,
    "_kmeans_fit": 5,
    "_mixture": 5,
    "gaussian": 5,
    "bernoulli": 5,
    "kmeans": 5,
    "tabular": 5,
    "dask": 5,
    # Above the estimators: what combines or draws fitted estimators.
    "selection": 6,
    # The selector's machinery (grid, starts, EM stages, criteria, checkpoint).
    "_selection": 6,
    "impute": 6,
    "plot": 6,
    "__init__": 6,
    "__main__": 7,
    "cli": 7,
}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        yield ".".join(parts), path


MODULES = dict(_modules())


def _layer(name):
    return LAYERS[name.split(".")[0]]


def _resolve(target, names):
    """Module names (keys of MODULES) that ``from target import names`` loads."""
    found, plain_names = set(), False
    for alias in names:
        full = f"{target}.{alias}" if target else alias
        if full in MODULES:
            found.add(full)
        elif f"{full}.__init__" in MODULES:
            found.add(f"{full}.__init__")
        else:
            plain_names = True
    if target in MODULES:
        found.add(target)
    elif plain_names or not names:
        # Names taken from a package run its __init__.
        found.add(f"{target}.__init__" if target else "__init__")
    return found


def _imports(name, path):
    """Every fastem module ``name`` imports, at any depth of the file."""
    package = name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fastem" or alias.name.startswith("fastem."):
                    found |= _resolve(alias.name.removeprefix("fastem").lstrip("."), [])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "fastem" or node.module.startswith("fastem.")):
                target = node.module.removeprefix("fastem").lstrip(".")
            else:
                continue
            found |= _resolve(target, [alias.name for alias in node.names])
    found.discard(name)
    return found


def test_every_module_has_a_layer():
    assert {name.split(".")[0] for name in MODULES} <= set(LAYERS)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_one_way(name):
    for target in _imports(name, MODULES[name]):
        assert _layer(target) <= _layer(name), f"{name} imports {target}, a higher layer"
        if name.startswith("kernels"):
            assert target.startswith("kernels"), f"{name} imports {target}"


def test_no_import_cycles():
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    # A package's __init__ stands for the package: importing fastem.x.y runs fastem/x/__init__.
    assert all(t in graph for targets in graph.values() for t in targets)
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for target in graph[node]:
            if state.get(target) == "open":
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])


#: Modules stay small, one job each (docs/architecture.md); a module that
#: grows past this is split by job rather than let grow.
MAX_MODULE_LINES = 640


def test_modules_stay_small():
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    too_long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"
