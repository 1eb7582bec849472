"""The report in a real browser: headless Chromium loads it, every image decodes, a screenshot is taken."""

from __future__ import annotations

import re
import shutil
import subprocess

import matplotlib.image as mpimg
import numpy as np
import pytest

from noisewalk.report.page import build_report

BROWSERS = ("chromium", "chromium-browser")

CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const decoded = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  const p = document.createElement("p");
  p.id = "image-check";
  p.textContent = "IMAGES-DECODED " + decoded + " OF " + images.length;
  document.body.appendChild(p);
});
</script>"""


def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


pytestmark = pytest.mark.skipif(
    _browser() is None, reason="Chromium is not installed (Debian: apt-get install -y chromium)"
)


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    cmd = [
        _browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _decoded(tmp_path, page) -> tuple[int, int]:
    checked = page.with_name(f"checked-{page.name}")
    checked.write_text(page.read_text().replace("</body>", CHECK + "</body>"))
    result = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", checked.as_uri())
    found = re.search(r"IMAGES-DECODED (\d+) OF (\d+)", result.stdout)
    assert found, f"no image check in the page Chromium rendered: {result.stderr[-2000:]}"
    return int(found.group(1)), int(found.group(2))


def test_every_image_decodes_and_a_screenshot_is_taken(synthetic_study, tmp_path):
    page = build_report([synthetic_study], tmp_path / "report.html").html
    decoded, total = _decoded(tmp_path, page)
    assert total == page.read_text().count("<img ") and total > 0
    assert decoded == total
    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, "--hide-scrollbars", "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (1600, 1200) and float(np.std(pixels)) > 0.05  # not a blank page

    # the check notices an image that does not decode
    broken = page.with_name("broken.html")
    broken.write_text(page.read_text().replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1))
    assert _decoded(tmp_path, broken) == (total - 1, total)
