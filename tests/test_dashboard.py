"""`vppsim dashboard`: the model behind the page, its plots, the command, and the page in Chromium.

The browser test (``slow``; ``.ci/run`` runs it after the default suite) serves the default
scenario with ``vppsim dashboard`` on 127.0.0.1, drives the page in Debian's headless
Chromium through Playwright, presses Step three times and checks the step counter, the
scenario card, that every plot was redrawn and that no error is shown; its screenshot is saved
as ``dashboard.png`` in the test's temporary folder (the path is printed).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from vppsim.cli import main
from vppsim.dashboard.figures import feeder_figure, prices_figure
from vppsim.dashboard.model import DashboardModel, model_params, scenario_lines
from vppsim.model import VPPModel
from vppsim.paths import default_scenario_path
from vppsim.scenario.loader import load_scenario

#: Chromium's switches for a headless run on a machine without a display or outside network
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _initial(params: dict) -> dict:
    """The keyword arguments SolaraViz builds the first model with (the controls' values)."""
    return {k: (v["value"] if isinstance(v, dict) else v) for k, v in params.items()}


@pytest.fixture
def passthrough_scenario(default_scenario_raw: dict, write_scenario_copy) -> Path:
    """The default scenario with Model 1 pricing and the exact allocator (fast steps)."""
    default_scenario_raw["market"]["price_policy"] = "passthrough"
    default_scenario_raw["balancing"]["allocator"] = "exact"
    return write_scenario_copy(default_scenario_raw, "passthrough")


def test_page_controls_start_at_the_scenario_and_run_the_same_model(passthrough_scenario: Path):
    """The page's first model (its controls' initial values) is the scenario as `vppsim run` runs it."""
    params = model_params(passthrough_scenario)
    initial = _initial(params)
    assert initial["price_policy"] == "passthrough" and initial["allocator"] == "exact"
    assert initial["seed"] == "2025" and initial["error_scale"] == 1.0
    page_model = DashboardModel(**initial)
    plain = VPPModel(load_scenario(passthrough_scenario))
    for _ in range(3):
        page_model.step()
        plain.step()
    assert page_model.steps == 3  # Mesa's counter: what the page shows as "Step: 3"
    pd.testing.assert_frame_equal(page_model.model_table(), plain.model_table())
    assert scenario_lines(page_model)[-1].startswith("After 3 step(s): VPO profit")


def test_error_scale_zero_realizes_the_forecasts(passthrough_scenario: Path):
    """error_scale 0: wind and PV as forecast in every step; 1: the scenario's +-30 % errors."""
    rows = {}
    for scale in (0.0, 1.0):
        m = DashboardModel(str(passthrough_scenario), "passthrough", "pso-rl", "exact", scale, 7)
        for _ in range(6):
            m.step()
        ts = m.timeseries()
        rows[scale] = ts[ts["kind"].isin(["wind", "pv"])]
    perfect, erring = rows[0.0], rows[1.0]
    assert np.array_equal(perfect["p_available_kw"], perfect["p_forecast_kw"])
    day = erring["p_forecast_kw"] > 0
    rel = erring["p_available_kw"][day] / erring["p_forecast_kw"][day] - 1.0
    assert rel.abs().max() <= 0.30 + 1e-9 and rel.abs().max() > 0.05


def test_feeder_drawing_shows_every_bus_voltage_and_the_vpps(passthrough_scenario: Path):
    """The feeder plot: one marker per bus coloured by the last power flow's vm, a star per VPP."""
    m = DashboardModel(**_initial(model_params(passthrough_scenario)))
    assert len(feeder_figure(m).axes[0].collections[0].get_offsets()) == len(m.space.G)
    m.step()
    m.step()
    ax = feeder_figure(m).axes[0]
    buses = list(m.feeder_xy)
    voltages = m.datacollector.bus_voltages(m.steps_per_day, m.step_h)
    last = voltages[voltages["step"] == 1].set_index("bus")["vm_pu"]
    np.testing.assert_allclose(ax.collections[0].get_array(), last.loc[buses].to_numpy())
    assert last.min() == pytest.approx(m.model_table()["vm_min_pu"].iloc[-1])
    stars = ax.collections[1:1 + len(m.vpps)]
    for star, v in zip(stars, m.vpps, strict=True):
        np.testing.assert_allclose(star.get_offsets()[0], m.feeder_xy[v.bus])
    # the prices plot draws the tariff (2 lines) and the VPO's two prices so far
    assert len(prices_figure(m).axes[0].lines) == 4


def test_controls_the_scenario_cannot_take_stop_the_model_with_one_message(
        passthrough_scenario: Path):
    """A bad seed or a game for self-scheduling prosumers: one message, no step, no crash."""
    m = DashboardModel(str(passthrough_scenario), seed="12a")
    assert not m.running and "seed: expected an integer 0..2**63-1, got '12a'" in m.rejected
    assert str(passthrough_scenario) in m.rejected
    m.step()
    assert (m.steps, m.t) == (0, 0) and m.model_table().empty
    fleet = default_scenario_path().parent / "prosumers_1024.yaml"
    m = DashboardModel(str(fleet), price_policy="game", seed=1)
    assert not m.running and "market.price_policy: expected 'passthrough'" in m.rejected
    ok = DashboardModel(str(fleet), price_policy="passthrough", allocator="exact", seed=1)
    assert ok.running and ok.rejected is None


def test_dashboard_command_rejects_a_bad_scenario(default_scenario_raw: dict, write_scenario_copy,
                                                  capsys: pytest.CaptureFixture[str]):
    default_scenario_raw["vpps"][0]["bus"] = 99
    path = write_scenario_copy(default_scenario_raw, "bad")
    assert main(["dashboard", str(path), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "vpps[0].bus" in err and "Traceback" not in err


def test_other_commands_do_not_load_solara():
    """`vppsim run` (and the dashboard command's own module) never import Solara or the page."""
    code = ("import sys; import vppsim.cli.main, vppsim.cli.impl.run, vppsim.cli.impl.dashboard; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('solara', 'reacton', 'ipyvuetify')"
            " or m.startswith(('vppsim.dashboard.app', 'mesa.visualization'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- in the browser
@pytest.fixture
def chromium() -> str:
    """Debian's Chromium; installed with apt-get where that is possible (root), else a loud skip."""
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, check=False)
        if found := shutil.which("chromium"):
            return found
    pytest.skip("SKIPPED LOUDLY: the browser test needs Chromium (Debian: apt-get install -y "
                "chromium), which is not installed and cannot be installed here")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dashboard_url(tmp_path: Path) -> Iterator[str]:
    """`vppsim dashboard` of the default scenario on a free port; the URL once it answers."""
    port = _free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "vppsim.cli", "dashboard", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not answer in 180 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


#: SHA-256 of every plot image on the page (the PNGs behind their blob: URLs)
_IMAGE_DIGESTS = """async () => {
  const out = [];
  for (const img of document.querySelectorAll('img.widget-image')) {
    const buf = await (await fetch(img.src)).arrayBuffer();
    const hash = await crypto.subtle.digest('SHA-256', buf);
    out.push(Array.from(new Uint8Array(hash)).map(b => b.toString(16).padStart(2, '0')).join(''));
  }
  return out;
}"""


@pytest.mark.slow
def test_dashboard_in_chromium(chromium: str, dashboard_url: str, tmp_path: Path):
    """Step the default scenario three times: counter, card and plots move, no error; then Reset.

    After the screenshot, the price-policy control is set to passthrough and Reset pressed: the
    page's model starts again at step 0 and its card names the new policy.
    """
    js_errors: list[str] = []
    t0 = time.monotonic()
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            tmp_path / "chromium-profile", executable_path=chromium, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 720})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.on("pageerror", lambda e: js_errors.append(str(e)))
            page.goto(dashboard_url)
            page.get_by_text("Step: 0", exact=True).wait_for(timeout=120_000)
            step = page.get_by_role("button", name="Step", exact=True)
            if not step.is_visible():  # a narrow window starts with the sidebar collapsed
                page.locator("header button").first.click()
            step.wait_for(state="visible", timeout=10_000)
            page.locator("img.widget-image").nth(3).wait_for(timeout=60_000)
            before = page.evaluate(_IMAGE_DIGESTS)
            for k in (1, 2, 3):
                step.click()
                page.get_by_text(f"Step: {k}", exact=True).wait_for(timeout=120_000)
            page.get_by_text("After 3 step(s)").wait_for(timeout=30_000)
            after = page.evaluate(_IMAGE_DIGESTS)
            text = page.inner_text("body")
            shot = tmp_path / "dashboard.png"
            page.set_viewport_size({"width": 1280, "height": 1500})  # every plot in the picture
            page.wait_for_timeout(1000)
            page.screenshot(path=str(shot))
            # a control and Reset: Model 1 prices, a new model at step 0, one step of it
            page.get_by_label("Price policy").click(force=True)
            page.get_by_role("option", name="passthrough").click()
            page.get_by_role("button", name="Reset", exact=True).click()
            page.get_by_text("Step: 0", exact=True).wait_for(timeout=60_000)
            step.click()
            page.get_by_text("After 1 step(s)").wait_for(timeout=60_000)
            reset_text = page.inner_text("body")
        finally:
            context.close()
    print(f"\ndashboard screenshot: {shot} (browser part {time.monotonic() - t0:.0f} s)")
    assert len(before) >= 4 and len(after) == len(before)
    assert not set(before) & set(after), "a plot was not redrawn after three steps"
    assert not re.search(r"Traceback|\bError\b|error in step|Exception", text), text
    assert "VPO profit" in text and "liu2025_3vpp" in text and "Price policy game" in text
    assert "Price policy passthrough" in reset_text and "Step: 1" in reset_text
    assert not re.search(r"Traceback|\bError\b|error in step|Exception", reset_text), reset_text
    assert not js_errors, js_errors
    assert shot.stat().st_size > 20_000
