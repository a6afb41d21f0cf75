"""``import pyflymq; pyflymq.<submodule>`` works for every path of client-api.md §1.1.

Each check runs in a fresh interpreter: in this process earlier tests have already imported
the submodules, which binds the attributes and would hide the bug.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# client-api.md §1.1, "pyflymq.<submodule>"
SUBMODULES = ["exceptions", "serde", "protocol", "types", "models", "client", "consumer",
              "producer", "tls", "binary", "matcher"]
# upstream modules flymq does not implement yet (no extra provides them): importing them
# raises an ImportError that says so; as attributes of pyflymq they are missing (so hasattr()
# is False), with the same message (issue 17: no message may name an extra that does not exist)
EXTRAS = ["crypto", "reactive"]


def run_fresh(code: str) -> None:
    """Run ``code`` in a new interpreter; fail with its stderr if it fails."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", SUBMODULES)
def test_submodule_is_an_attribute_after_plain_import(name: str) -> None:
    run_fresh(f"""
        import importlib, sys
        import pyflymq
        assert "pyflymq.{name}" not in sys.modules, "import pyflymq should stay lazy"
        attr = pyflymq.{name}
        assert attr is importlib.import_module("pyflymq.{name}"), attr
    """)


@pytest.mark.parametrize("name", EXTRAS)
def test_extra_submodule_fails_only_when_used(name: str) -> None:
    run_fresh(f"""
        import pyflymq
        try:
            pyflymq.{name}
        except AttributeError as exc:
            assert "pyflymq.{name} is not implemented by flymq yet" in str(exc), exc
        else:
            raise AssertionError("expected AttributeError")
        assert not hasattr(pyflymq, "{name}")
        try:
            import pyflymq.{name}
        except ImportError as exc:
            assert "pyflymq.{name} is not implemented by flymq yet" in str(exc), exc
        else:
            raise AssertionError("expected ImportError")
    """)


def test_unknown_names_still_raise_attribute_error() -> None:
    run_fresh("""
        import pyflymq
        assert not hasattr(pyflymq, "no_such_submodule")
        assert pyflymq.FlyMQClient is __import__("flymq").FlyMQClient
    """)
