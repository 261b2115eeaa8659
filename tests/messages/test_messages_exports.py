from __future__ import annotations

import tokentide.messages as messages


def test_public_classes_have_docstrings_with_examples() -> None:
    for name in messages.__all__:
        obj = getattr(messages, name)
        if isinstance(obj, type):
            assert obj.__doc__ and "Example" in obj.__doc__, name


def test_layer_imports_only_errors_and_wire() -> None:
    import ast
    import pathlib

    folder = pathlib.Path(messages.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("tokentide"):
                    assert node.module in ("tokentide.errors", "tokentide.wire"), path.name
