"""Sphinx extension: the API reference, generated from every public module's ``__all__``.

At ``builder-inited`` it writes one reStructuredText page per public module of scribe_sync and
mock_server into ``docs/reference/`` (not committed): the module's docstring, then every name
in its ``__all__`` (or, for a module without one, every public name it defines), documented by
autodoc. An object re-exported from a module documented earlier (``scribe_sync.ScribeClient`` is
``scribe_sync.client.ScribeClient``) is documented once, where users import it first, and the
later page links to it. At ``env-check-consistency`` every one of those names must be a
documented Python object: a name that autodoc skipped or could not import is a warning, which
``sphinx-build -W`` turns into a failed build.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import pathlib
import pkgutil
from types import ModuleType
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

logger = logging.getLogger(__name__)

PACKAGES = ("scribe_sync", "mock_server")
OUT_DIR = "reference"


def public_modules() -> list[ModuleType]:
    """Both packages and each submodule with no private part in its dotted name, in order."""
    modules: list[ModuleType] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        modules.append(package)
        names = sorted(info.name for info in pkgutil.walk_packages(package.__path__,
                                                                   package_name + "."))
        for name in names:
            if any(part.startswith("_") for part in name.split(".")[1:]):
                continue  # private modules, and __main__ (the scribe-mock command)
            modules.append(importlib.import_module(name))
    return modules


def public_names(module: ModuleType) -> list[str]:
    """``__all__``, or the public names a module without one defines itself."""
    declared = getattr(module, "__all__", None)
    if declared is not None:
        return list(declared)
    return [name for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == module.__name__
            and (inspect.isclass(value) or inspect.isfunction(value))]


def _directive(obj: Any) -> tuple[str, list[str]]:
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "autoexception", [":members:"]
        if issubclass(obj, enum.Enum):
            return "autoclass", [":members:", ":undoc-members:"]
        return "autoclass", [":members:"]
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "autofunction", []
    return "autodata", []


def _attribute_comment(name: str) -> tuple[str | None, list[str]]:
    """The public module that defines a module-level name with a ``#:`` comment, and the
    comment (None and nothing when no module has one)."""
    for module in public_modules():
        try:
            docs = ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
        except PycodeError:
            continue
        if ("", name) in docs:
            return module.__name__, list(docs[("", name)])
    return None, []


def _data(module: str, attr: str, obj: Any) -> list[str]:
    """A constant, described by its ``#:`` comment (autodata would fall back to the docstring
    of its type, ``dict``'s for a table, when the comment sits in another module). Documented
    under the module that re-exports it first, it is also known by its defining module's name
    (``:canonical:``), as autodoc does for classes and functions."""
    home, comment = _attribute_comment(attr)
    lines = [f".. py:data:: {attr}", f"   :type: {type(obj).__name__}"]
    if isinstance(obj, (str, int, float)):
        lines.append(f"   :value: {obj!r}")
    if home is not None and home != module:
        lines.append(f"   :canonical: {home}.{attr}")
    return lines + [""] + [f"   {line}" for line in comment if line.strip()] + [""]


def write_reference(srcdir: pathlib.Path) -> dict[str, str]:
    """Write the reference pages; return {public name: the documented name it resolves to}."""
    out = srcdir / OUT_DIR
    out.mkdir(exist_ok=True)
    first_home: dict[int, str] = {}
    expected: dict[str, str] = {}
    pages = []
    for module in public_modules():
        name = module.__name__
        lines = [name, "=" * len(name), "", f".. automodule:: {name}", ""]
        seen_here: list[str] = []
        for attr in public_names(module):
            obj = getattr(module, attr)
            full = f"{name}.{attr}"
            home = first_home.get(id(obj)) if not isinstance(obj, (str, int, float)) else None
            if home is not None:
                seen_here.append(f"* ``{attr}``: :py:obj:`{home}`")
                expected[full] = home
                continue
            directive, options = _directive(obj)
            if directive == "autodata":
                lines += _data(name, attr, obj)
            else:
                lines += [f".. {directive}:: {full}", *(f"   {o}" for o in options), ""]
            if not isinstance(obj, (str, int, float, tuple, frozenset)):
                first_home[id(obj)] = full
            expected[full] = full
        if seen_here:
            lines += ["Also here, documented where they are first exported:", "", *seen_here, ""]
        (out / f"{name}.rst").write_text("\n".join(lines), encoding="utf-8")
        pages.append(name)
    index = ["API reference", "=============", "",
             "Every public module of both packages, generated from their ``__all__``.", "",
             ".. toctree::", "   :maxdepth: 1", "", *(f"   {page}" for page in pages), ""]
    (out / "index.rst").write_text("\n".join(index), encoding="utf-8")
    return expected


def _generate(app: Sphinx) -> None:
    app.env.apiref_expected = write_reference(pathlib.Path(app.srcdir))  # type: ignore[attr-defined]


def _check(app: Sphinx, env: BuildEnvironment) -> None:
    expected: dict[str, str] = getattr(env, "apiref_expected", {})
    objects = env.get_domain("py").objects  # type: ignore[attr-defined]
    missing = sorted(public for public, documented in expected.items()
                     if documented not in objects)
    for public in missing:
        logger.warning("public name missing from the API reference: %s", public)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _generate)
    app.connect("env-check-consistency", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
