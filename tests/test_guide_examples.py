"""The examples of docs/guide.md's sections "Your own model" and "Your own data" run as written.

Under those headings, a ``python`` block whose first line is ``# file: NAME`` is written
to NAME; other ``python`` blocks run in one namespace per section; each ``noisewalk ...``
line of a ``bash`` block runs through the CLI; ``toml`` blocks are read into a spec.
All run in a temporary directory, in document order.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "guide.md"
SECTIONS = ("Your own model", "Your own data")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(title: str) -> list[tuple[str, str]]:
    text = GUIDE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return BLOCK.findall(text[start : end if end > 0 else None])


@pytest.mark.parametrize("title", SECTIONS)
def test_guide_section_runs(title, tmp_path, monkeypatch):
    from noisewalk.cli import app
    from noisewalk.data import DATASETS
    from noisewalk.sweep.spec import parse_spec

    found = blocks(title)
    assert [lang for lang, _ in found].count("python") >= 1 and any(lang == "bash" for lang, _ in found)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOISEWALK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))  # names the examples register go after
    namespace: dict = {"__name__": "guide_example"}
    for lang, code in found:
        first = code.splitlines()[0]
        if lang == "python" and first.startswith("# file: "):
            Path(first.removeprefix("# file: ").strip()).write_text(code)
        elif lang == "python":
            exec(compile(code, f"{GUIDE.name}: {title}", "exec"), namespace)
        elif lang == "bash":
            for line in code.splitlines():
                if line.startswith("noisewalk "):
                    result = CliRunner().invoke(app, shlex.split(line)[1:])
                    assert result.exit_code == 0, f"{line}\n{result.output}"
        elif lang == "toml":
            data = tomllib.loads(code)
            parse_spec({"name": "guide", "sigma": {"kind": "explicit", "values": [0.1]}, **data})
