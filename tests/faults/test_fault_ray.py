"""Item 10: Ray at versions without the unauthenticated dashboard endpoints, and its
dashboard off unless asked."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

from noisewalk.sweep import ray_executor
from noisewalk.sweep.spec import RaySettings

ROOT = Path(__file__).resolve().parents[2]


def test_the_ray_extra_requires_a_version_with_the_advisories_fixed():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = [p for p in extras["ray"] if p.startswith("ray")]
    floor = re.search(r">=\s*(\d+)\.(\d+)", pins[0])
    assert floor and (int(floor.group(1)), int(floor.group(2))) >= (2, 55), pins


class FakeRay:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs):
        self.calls.append(kwargs)
        return SimpleNamespace(dashboard_url=None)

    def shutdown(self) -> None:
        pass


def test_a_local_ray_cluster_starts_without_its_dashboard_unless_asked(monkeypatch):
    fake = FakeRay()
    monkeypatch.setattr(ray_executor, "require", lambda *args: fake)
    assert RaySettings().dashboard is False
    ray_executor.RayExecutor(1, RaySettings()).close()
    ray_executor.RayExecutor(1, RaySettings(dashboard=True)).close()
    assert [c["include_dashboard"] for c in fake.calls] == [False, True]
    assert all(c["dashboard_host"] == "127.0.0.1" for c in fake.calls)  # never on other interfaces
