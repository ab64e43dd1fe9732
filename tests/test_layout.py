"""The app's shape: function_app imports cleanly and registers functions the worker can index."""

from __future__ import annotations

import json


def test_function_app_lists_functions() -> None:
    import function_app

    functions = function_app.app.get_functions()
    names = {f.get_function_name() for f in functions}
    assert "health" in names
    for f in functions:
        meta = json.loads(f.get_function_json())
        assert meta["bindings"], f.get_function_name()
