"""The model part of the recipe (``noisewalk.recipe.Recipe.model``): which network, built how.

A model is a registered name (``noisewalk models``: noisewalk's, torchvision's,
``timm:NAME``, ``hf:NAME``) or a class in a Python file of your own,
``path/to/file.py:ClassName`` (``noisewalk.models.from_file``). For a file the recipe
keeps the path as given in ``name``, and fills in the absolute path (``file``, not part
of the identity: workers in other directories load it from there) and the SHA-256 of
the file's contents (``file_sha256``, part of the identity: an edited model file makes
new trials).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from noisewalk.errors import NoisewalkError
from noisewalk.validate import unknown_name


class ModelRecipe(BaseModel):
    """The network's architecture: a registered model or a class in a file, and its arguments."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    name: str = "mlp"
    """A registered model (``noisewalk models``), or a class in a file of yours: ``path/to/file.py:ClassName``."""
    batchnorm: bool = False
    """Build the model with batch-norm layers."""
    options: Annotated[dict[str, bool | int | float | str], Field(default_factory=dict, json_schema_extra={"since": 2})]
    """Further arguments of the model's factory, e.g. pooling = "avg" for lenet5."""
    file: Annotated[str | None, Field(json_schema_extra={"identity": False, "cli": False, "since": 2})] = None
    """A model file's absolute path, filled in when the recipe is read (workers load it from there)."""
    file_sha256: Annotated[str | None, Field(json_schema_extra={"cli": False, "since": 2})] = None
    """The SHA-256 of a model file's contents, filled in when the recipe is read (part of the identity)."""

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        from noisewalk.models import MODELS

        if MODELS.resolves(name):  # a model file: checked with its absolute path below
            return name
        if name not in MODELS:
            raise ValueError(str(unknown_name(MODELS.kind, name, MODELS.names())))
        return name

    @model_validator(mode="before")
    @classmethod
    def _model_file(cls, data: Any) -> Any:
        """A model file's absolute path and content hash, unless given (a stored recipe)."""
        from noisewalk.models import MODELS
        from noisewalk.models.from_file import resolve

        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not MODELS.resolves(data["name"]):
            return data
        if data.get("file") is not None:
            return data
        try:
            path, digest = resolve(data["name"])
        except NoisewalkError as exc:
            raise ValueError(str(exc)) from None
        return {**data, "file": path, "file_sha256": data.get("file_sha256") or digest}

    @property
    def source(self) -> str:
        """The name to build the model by: a model file's name with its absolute path."""
        if self.file is None:
            return self.name
        return f"{self.file}:{self.name.rpartition(':')[2]}"

    @model_validator(mode="after")
    def _options_fit(self) -> ModelRecipe:
        from noisewalk.models import MODELS, model_options

        if self.file is not None:
            try:
                MODELS.get(self.source)
            except NoisewalkError as exc:
                raise ValueError(str(exc)) from None
        if self.name in MODELS and self.options:
            allowed = model_options(self.source)
            unknown = [] if allowed is None else sorted(set(self.options) - set(allowed))
            if allowed is not None and unknown:
                raise ValueError(
                    f"options {unknown} are not options of model {self.name!r}; "
                    f"it takes: {', '.join(allowed) or 'none'}"
                )
        return self
