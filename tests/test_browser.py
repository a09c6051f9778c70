"""As a person sees it: the report page and the notebook explorer in headless Chromium.

Screenshots are kept in ``reports/browser/`` (report.png, lab.png) for a person to look at.
Skipped, with the reason, only where no Chromium is available (see ``.ci/install-chromium``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from helpers.browser import SCREENSHOTS, chromium_or_reason, jupyter_lab
from helpers.pipeline_run import tiny_parameters

CHROMIUM, NO_CHROMIUM = chromium_or_reason()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason=f"browser checks skipped: {NO_CHROMIUM}"),
]
RUN = "browser"


@pytest.fixture(scope="module")
def browser_run(small_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """``(parameters, run folder)`` of one full pipeline run on the session's small dataset."""
    from simdr_lib.pipeline import run_pipeline

    tmp = tmp_path_factory.mktemp("browser_run")
    params = tiny_parameters(small_dataset, tmp, run=RUN, epochs=1)
    result = run_pipeline(params, stream=None)
    return params, result.run_dir


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def _screenshot(page, name: str, tmp: Path) -> Path:
    """Save a full-page screenshot under pytest's tmp path and at ``reports/browser/<name>``."""
    page.screenshot(path=str(tmp / name), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stable = SCREENSHOTS / name
    stable.write_bytes((tmp / name).read_bytes())
    print(f"screenshot: {stable}")
    return stable


def test_report_page_shows_every_image_and_the_ap_sentence(browser_run, chromium, tmp_path):
    _, run_dir = browser_run
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.goto((run_dir / "report.html").as_uri())
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({src: e.src.slice(0, 40), w: e.naturalWidth, ok: e.complete}))"
    )
    assert len(images) >= 8
    broken = [i for i in images if not (i["ok"] and i["w"] > 0)]
    assert not broken, f"images not shown: {broken}"
    text = page.inner_text("body")
    ap = json.loads((run_dir / "report.json").read_text())["AP"]
    sentence = re.search(r"On the generated validation set[^\n]*COCO keypoint AP ([0-9.]+)", text)
    assert sentence, text[:500]
    assert abs(float(sentence.group(1)) - ap) < 1e-3
    assert _screenshot(page, "report.png", tmp_path).stat().st_size > 10_000
    page.close()


def _explorer_copy(params: dict, folder: Path) -> Path:
    """Notebook 06 with its parameters cell pointed at the prepared run, saved in ``folder``."""
    nb = nbformat.read(str(ROOT / "notebooks" / "06_visualization.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in params.items())
    path = folder / "06_visualization.ipynb"
    nbformat.write(nb, str(path))
    return path


def _explorer_image(page, previous: str | None = None, timeout: float = 120_000) -> str:
    """The ``src`` of the explorer's figure once it is shown (and differs from ``previous``)."""
    selector = ".widget-vbox .jp-OutputArea-output img"
    page.wait_for_function(
        """([sel, prev]) => { const i = document.querySelector(sel);
               return i && i.naturalWidth > 0 && i.src !== prev; }""",
        arg=[selector, previous],
        timeout=timeout,
    )
    return page.eval_on_selector(selector, "i => i.src")


def test_lab_explorer_redraws_when_person_and_joint_change(browser_run, chromium, tmp_path):
    params, _ = browser_run
    folder = tmp_path / "lab"
    folder.mkdir()
    book = _explorer_copy(params, folder)
    with jupyter_lab(folder, ROOT, tmp_path) as url:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url.format(path=book.name))
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function(  # the notebook's own kernelspec started, no kernel picker
            """() => (document.querySelector('.jp-KernelName') || {}).textContent
                     === 'Python (simdr)'""",
            timeout=60_000,
        )
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        first = _explorer_image(page)
        person, joint = page.locator(".widget-vbox .widget-dropdown select").all()[:2]
        person.select_option(index=1)
        second = _explorer_image(page, previous=first, timeout=60_000)
        joint.select_option(label="left_wrist")
        third = _explorer_image(page, previous=second, timeout=60_000)
        assert len({first, second, third}) == 3
        errors = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        )
        tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t]
        assert not tracebacks, tracebacks[:1]
        news = page.get_by_role("button", name="No", exact=True)  # the "Jupyter news?" toast
        if news.count():
            news.first.click()
        page.locator(".widget-vbox").first.scroll_into_view_if_needed()
        _screenshot(page, "lab.png", tmp_path)
        page.close()
