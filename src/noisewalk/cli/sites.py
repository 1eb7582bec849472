"""``noisewalk sites`` and ``noisewalk models``: what a model offers as noise sites."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from noisewalk.cli.common import app, errors, out_console, parse_shape
from noisewalk.errors import InvalidParameterError, NoisewalkError
from noisewalk.validate import check_positive_int


@app.command()
def sites(
    model: Annotated[str, typer.Option(help="Model name (see `noisewalk models`).")] = "lenet5",
    input_shape: Annotated[
        str | None, typer.Option(help="C,H,W of an image, or a token model's sequence length; default from --data.")
    ] = None,
    data: Annotated[str, typer.Option(help="Dataset whose input shape and classes to use.")] = "digits",
    data_root: Annotated[str | None, typer.Option(help="Folder holding the dataset files.")] = None,
    num_classes: Annotated[int | None, typer.Option(help="Classes (default: the dataset's).")] = None,
    batchnorm: Annotated[bool, typer.Option(help="Build the model with batch-norm and count it as sites.")] = False,
    method: Annotated[
        str, typer.Option(help="auto (fx, else hooks), fx (trace the graph) or hooks (leaf-module hooks).")
    ] = "auto",
    all_models: Annotated[
        bool, typer.Option("--all", help="Every noisewalk model, each on its example input (or --input-shape).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the sites as JSON.")] = False,
) -> None:
    """Print the table of noise sites of a model (or of every registered model with --all)."""
    from noisewalk.data import create_dataset
    from noisewalk.models import create_model, example_input, list_models
    from noisewalk.sites import inject

    with errors():
        shape = parse_shape(input_shape)
        if num_classes is not None:
            check_positive_int("--num-classes", num_classes)
        classes = num_classes
        if not all_models and (shape is None or classes is None):
            splits = create_dataset(data, root=data_root)
            shape = shape or splits.input_shape
            classes = classes or splits.num_classes
        found = []
        for name in list_models(own=True) if all_models else [model]:
            in_shape = shape or example_input(name)
            try:
                net = create_model(name, num_classes=classes or 10, input_shape=in_shape, batchnorm=batchnorm or None)
                table = inject(net, "additive", batchnorm=batchnorm, method=method).site_table()
            except (RuntimeError, ValueError, ZeroDivisionError) as exc:
                if isinstance(exc, NoisewalkError):
                    raise
                size = "x".join(map(str, in_shape))
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise InvalidParameterError(f"{name} cannot take an input of {size} (--input-shape): {first}") from None
            found.append((name, in_shape, table))
    if as_json:
        listed = [{"model": name, "input_shape": s, "sites": rows} for name, s, rows in found]
        out_console.print_json(json.dumps({"models": listed} if all_models else listed[0]))
        return
    for name, s, rows in found:
        table = Table(title=f"{len(rows)} noise sites of {name} (input {'x'.join(map(str, s))})")
        for col in ("index", "name", "op", "target"):
            table.add_column(col, justify="right" if col == "index" else "left")
        for row in rows:
            table.add_row(str(row["index"]), row["name"], row["op"], row["target"])
        out_console.print(table)


@app.command("models")
def models_cmd(
    own: Annotated[bool, typer.Option(help="Only noisewalk's own models, not torchvision's.")] = False,
) -> None:
    """List the model names."""
    from noisewalk.models import list_models

    out_console.print("\n".join(list_models(own=own)))
