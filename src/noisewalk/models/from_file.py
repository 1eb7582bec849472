"""``path/to/file.py:ClassName``: a model class from a Python file of your own.

The file is imported from its location (it need not be on ``sys.path`` or in a package)
and the class is built with the keywords its constructor accepts among ``num_classes``,
``input_shape`` and ``batchnorm`` (``batchnorm`` only when set), plus the model options
(a spec's ``[model] options``). A relative path is taken from the current directory; a
study's recipe keeps the path as given in its name, the absolute path (for workers in
other directories: process pools, Ray, Slurm) and the SHA-256 of the file's contents
(part of a trial's identity: an edited model file makes new trials).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType

from torch import nn

from noisewalk.errors import InvalidParameterError, UnknownNameError
from noisewalk.models.registry import MODELS

COMMON = ("num_classes", "input_shape", "batchnorm")
_MODULES: dict[str, ModuleType] = {}  # by content hash: an edited file is imported again


def is_model_file(name: str) -> bool:
    """Whether ``name`` has the form ``path/to/file.py:ClassName``."""
    path, sep, cls = name.rpartition(":")
    return bool(sep) and path.endswith(".py") and cls.isidentifier()


def split_name(name: str) -> tuple[Path, str]:
    """(file, class name) of ``path/to/file.py:ClassName``."""
    path, _, cls = name.rpartition(":")
    return Path(path).expanduser(), cls


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's contents (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def resolve(name: str) -> tuple[str, str]:
    """(absolute path, SHA-256 of the contents) of a model file's name; a missing file is an error."""
    path, _ = split_name(name)
    if not path.is_file():
        raise UnknownNameError(
            f"model file {str(path)!r} not found (model {name!r}; a relative path is taken from {Path.cwd()})"
        )
    return str(path.resolve()), file_sha256(path)


def _classes(path: Path) -> list[str]:
    """The classes a file defines at its top level (read without running it)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return []
    return [node.name for node in tree.body if isinstance(node, ast.ClassDef)]


def _module(path: Path) -> ModuleType:
    digest = file_sha256(path)
    if digest in _MODULES:
        return _MODULES[digest]
    module_name = f"noisewalk_model_file_{digest[:16]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:  # pragma: no cover (a .py path always has a loader)
        raise InvalidParameterError(f"cannot import model file {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # classes defined there pickle and unpickle
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        first = (str(exc).strip().splitlines() or [""])[0]
        raise InvalidParameterError(
            f"importing model file {str(path)!r} failed: {type(exc).__name__}: {first}"
        ) from None
    _MODULES[digest] = module
    return module


def load_class(name: str) -> type[nn.Module]:
    """The class ``ClassName`` of ``path/to/file.py:ClassName``, imported from the file."""
    path, cls_name = split_name(name)
    resolve(name)  # the file exists
    module = _module(path)
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        defined = _classes(path)
        listed = ", ".join(defined) if defined else "none"
        raise UnknownNameError(f"model file {str(path)!r} has no class {cls_name!r}; the classes it defines: {listed}")
    if not issubclass(cls, nn.Module):
        raise InvalidParameterError(f"{cls_name} in {str(path)!r} is not a torch.nn.Module")
    return cls


def _factory(name: str):
    cls = load_class(name)
    path, cls_name = split_name(name)
    try:
        params = dict(inspect.signature(cls).parameters)
    except (TypeError, ValueError):  # pragma: no cover (a class without a signature)
        params = {}
    any_keyword = any(p.kind == p.VAR_KEYWORD for p in params.values())

    def factory(*, num_classes: int, input_shape: tuple[int, ...], batchnorm: bool | None = None, **kwargs):
        given = {"num_classes": num_classes, "input_shape": tuple(input_shape), **kwargs}
        if batchnorm is not None and ("batchnorm" in params or any_keyword):
            given["batchnorm"] = batchnorm
        elif batchnorm:
            raise InvalidParameterError(f"{cls_name} in {str(path)!r} takes no batchnorm argument")
        taken = given if any_keyword else {k: v for k, v in given.items() if k in params}
        unknown = sorted(set(kwargs) - set(taken))
        if unknown:
            raise InvalidParameterError(f"{cls_name} in {str(path)!r} takes no argument {', '.join(unknown)}")
        try:
            return cls(**taken)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            raise InvalidParameterError(
                f"building {cls_name} from {str(path)!r} with {sorted(taken)} failed: {type(exc).__name__}: {first}"
            ) from None

    # model_options (and a spec's [model] options check) read the options from this signature
    keyword = inspect.Parameter.KEYWORD_ONLY
    own = [inspect.Parameter(k, keyword, default=None) for k in COMMON]
    own += [
        inspect.Parameter(k, keyword, default=None)
        for k, p in params.items()
        if k not in COMMON and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if any_keyword:
        own.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    factory.__signature__ = inspect.Signature(own)  # type: ignore[attr-defined]
    return factory


MODELS.add_resolver(is_model_file, _factory)
