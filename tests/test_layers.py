"""The layer rule of ``docs/architecture.md``, checked on the source of every package.

1. Each package imports only from the layers under it (and its own), at module level or inside
   functions; the cycles left are listed in ``JUSTIFIED`` with the reason.
2. No module imports a ``_private`` name from another package.
3. Other packages reach the runtime through ``tokentide.runtime`` (its documented-internal
   ``__all__``), never through its private modules; ``RUNTIME_PRIVATE_OK`` lists the
   packages not moved yet.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import types

import tokentide

SRC = pathlib.Path(tokentide.__file__).parent

#: Bottom first; a package may import the packages of its own rank and of the ranks below.
LAYERS: list[set[str]] = [
    {"errors"},
    {"wire"},
    {"messages"},
    {"runtime"},
    {"callbacks", "observe"},
    {"models"},
    {"tools"},
    {"checkpoint"},
    {"graph"},
    {"prebuilt"},
    {"agents"},
    {"render"},
    {"server"},
    {"cli"},
]
#: The public facades: each re-exports one layer under a LangChain / LangGraph module path.
#: They sit on top (nothing under ``src`` but ``cli`` and the package root may use them).
FACADES = {
    "runnables": "runtime",
    "prompts": "runtime",
    "output_parsers": "runtime",
    "language_models": "models",
    "config": "graph",
    "types": "graph",
    "_port_map": "cli",
}
#: Imports that go up a layer, each with its reason (all are made inside a function, at the
#: time of use, so that importing the lower layer never imports the higher one).
JUSTIFIED = {
    # ``config["callbacks"]`` is a runtime concept (LangChain's), but the handlers' machinery
    # lives in the layer above; the runtime looks it up only when a run is given handlers.
    ("runtime", "callbacks"),
    # The OpenTelemetry observer reports the package version as its instrumentation scope.
    ("observe", "<root>"),
    # The server's runs API accepts any runnable; ``tokentide.runnables`` is the runtime's
    # public face (the same layer as ``tokentide.runtime``).
    ("server", "runnables"),
    # ``tokentide chat --prompt``/``ask`` build their chain from the public facades.
    ("cli", "prompts"),
    ("cli", "output_parsers"),
    ("cli", "_port_map"),
}
#: The runtime's public faces: ``tokentide.runnables``, ``tokentide.prompts`` and
#: ``tokentide.output_parsers`` are the runtime layer itself, split out under LangChain's
#: import paths; they re-export classes from its private modules that the layers above never
#: need (``RunnableSequence``, the prompt templates, the parsers).
RUNTIME_PRIVATE_OK = {"runnables", "prompts", "output_parsers"}
RUNTIME_PRIVATE_OK_FILES: set[str] = set()
#: Modules that import a private name of another package: none.
PRIVATE_NAME_OK_FILES: set[str] = set()


def _rank(package: str) -> int:
    if package in FACADES:
        return len(LAYERS)
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise AssertionError(f"package {package!r} is in no layer: add it to LAYERS")


def _imports() -> list[tuple[pathlib.Path, str, ast.ImportFrom | ast.Import]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        package = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if package == "__init__":
            continue  # the package root re-exports everything
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                found.append((rel, package, node))
    return found


def _targets(node: ast.ImportFrom | ast.Import) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        if node.level or not node.module or not node.module.startswith("tokentide"):
            return []
        return [node.module]
    return [a.name for a in node.names if a.name.startswith("tokentide")]


def _package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def test_every_package_imports_only_from_the_layers_under_it() -> None:
    wrong = []
    for rel, package, node in _imports():
        for module in _targets(node):
            target = _package_of(module)
            if target == package or (package, target) in JUSTIFIED:
                continue
            if target == "<root>" or _rank(target) > _rank(package):
                wrong.append(f"{rel}:{node.lineno} imports {module} (a higher layer)")
    assert not wrong, "\n".join(wrong)


def test_the_justified_cycles_are_still_there() -> None:
    """A justification for an import that is gone must go too."""
    seen = {
        (package, _package_of(module))
        for _, package, node in _imports()
        for module in _targets(node)
    }
    assert seen >= JUSTIFIED, JUSTIFIED - seen


def test_no_private_name_crosses_a_package() -> None:
    wrong = []
    for rel, package, node in _imports():
        if not isinstance(node, ast.ImportFrom) or not _targets(node):
            continue
        if _package_of(node.module or "") == package:
            continue
        private = [
            a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")
        ]
        if private and rel.as_posix() not in PRIVATE_NAME_OK_FILES:
            wrong.append(f"{rel}:{node.lineno} imports {private} from {node.module}")
    assert not wrong, "\n".join(wrong)


def test_other_packages_use_the_runtime_interface() -> None:
    wrong = []
    for rel, package, node in _imports():
        if package == "runtime" or package in RUNTIME_PRIVATE_OK:
            continue
        if str(rel.as_posix()) in RUNTIME_PRIVATE_OK_FILES:
            continue
        for module in _targets(node):
            if module.startswith("tokentide.runtime._"):
                wrong.append(f"{rel}:{node.lineno} imports {module}: use tokentide.runtime")
    assert not wrong, "\n".join(wrong)


def test_the_runtime_interface_is_documented() -> None:
    import tokentide.runtime as runtime

    for name in runtime.__all__:
        obj = getattr(runtime, name)
        # a type alias such as ``Token[...]`` (a class on Python 3.10) has no docstring
        alias = isinstance(obj, types.GenericAlias)
        if inspect.isfunction(obj) or (inspect.isclass(obj) and not alias):
            assert obj.__doc__, f"tokentide.runtime.{name} has no docstring"
        assert name in (runtime.__doc__ or ""), f"{name} is not named in the package docstring"
