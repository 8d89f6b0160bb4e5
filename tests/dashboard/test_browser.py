"""The dashboard in a real browser: headless Chromium signs in, opens a patient, sees a chart,
and is refused a patient it may not see."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from werkzeug.serving import make_server

from clarity.dashboard import create_dashboard
from tests.api.conftest import PASSWORD, build

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="Chromium is not installed: `make test` installs the Debian packages chromium and chromium-driver",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    api = build(tmp_path_factory.mktemp("browser"))
    api_port, dash_port = _free_port(), _free_port()
    api_server = uvicorn.Server(
        uvicorn.Config(api.client.app, host="127.0.0.1", port=api_port, log_level="error")
    )
    threading.Thread(target=api_server.run, daemon=True).start()
    dashboard = create_dashboard(f"http://127.0.0.1:{api_port}")
    web = make_server("127.0.0.1", dash_port, dashboard.server, threaded=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    deadline = time.monotonic() + 15
    while not api_server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield api, f"http://127.0.0.1:{dash_port}"
    web.shutdown()
    api_server.should_exit = True
    api.context.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1366,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _sign_in(driver, url, username):
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/logout")
    driver.get(f"{url}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()


def test_browser__clinician_signs_in_opens_a_patient_and_sees_the_chart(servers, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    api, url = servers
    _sign_in(browser, url, "ruth")
    _wait(browser, ec.presence_of_element_located((By.ID, "patient-table")))
    links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "a.patient-link")]
    assert links == [api.patients[0]]
    assert "ruth (clinician)" in browser.find_element(By.CLASS_NAME, "who").text
    browser.find_element(By.CSS_SELECTOR, "a.patient-link").click()
    _wait(
        browser,
        ec.presence_of_element_located((By.CSS_SELECTOR, "#scores-chart .scatterlayer .trace")),
    )
    traces = browser.execute_script(
        "return document.querySelectorAll('#scores-chart .scatterlayer .trace').length"
    )
    points = browser.execute_script(
        "return document.querySelectorAll('#scores-chart .scatterlayer .point').length"
    )
    assert traces >= 2 and points >= 4  # PHQ-9 and GAD-7, two visits each
    assert "Medications" in browser.page_source and "Wearable risk" in browser.page_source
    # The crisis banner: the example alert's evidence, above everything else.
    banner = browser.find_element(By.ID, "crisis-banner").text
    assert "wish to be dead" in banner and "go to sleep and not wake up" in banner
    # The PGx panel: the gene's call and the drug's CPIC recommendation with its citation.
    panel = browser.find_element(By.ID, "panel-pgx").text
    assert "CYP2C19" in panel and "escitalopram" in panel and "PMID 37032427" in panel
    # The genotype panel: the trait's score, its percentile bar and the SNPs that moved it.
    genetic = browser.find_element(By.ID, "panel-genotype")
    assert "depression_liability" in genetic.text and "held-out AUC" in genetic.text
    bar = genetic.find_element(By.CSS_SELECTOR, ".percentile-bar")
    assert (
        0 < bar.size["width"] < genetic.find_element(By.CSS_SELECTOR, ".percentile").size["width"]
    )
    assert genetic.find_elements(By.CSS_SELECTOR, "ul.snps li")
    # The notes summary: clicking a sentence's citation shows its redacted source, span marked.
    summary = browser.find_element(By.ID, "panel-notes-summary")
    assert "Plan" in summary.text and "extractive" in summary.text
    assert "Click a citation" in browser.find_element(By.ID, "notes-source").text
    summary.find_element(By.CSS_SELECTOR, "button.citation").click()
    mark = _wait(browser, lambda d: d.find_elements(By.ID, "notes-source-span"))
    assert mark[0].text.startswith("Start ")
    assert "Moderate depressive episode" in browser.find_element(By.ID, "notes-source").text
    # The wearable panel: the risk chart, and the attention heat-map of the explained week.
    _wait(
        browser,
        ec.presence_of_element_located((By.CSS_SELECTOR, "#wearable-attention-chart .hm")),
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#wearable-risk-chart .scatterlayer .trace")
    assert "Where the model looked" in browser.find_element(By.ID, "wearable-attention-chart").text
    browser.find_element(By.ID, "wearable-explain").click()
    status = _wait(
        browser,
        lambda d: d.find_element(By.ID, "wearable-explain-status").text or None,
    )
    assert "Requested" in status
    assert any(
        d.record.payload.requested_by == "ruth"
        for d in api.context.bus.replay("wearable.explain_request")
    )
    browser.save_screenshot(str(tmp_path / "patient.png"))


def test_browser__a_patient_not_assigned_is_refused(servers, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    api, url = servers
    _sign_in(browser, url, "ruth")
    _wait(browser, ec.presence_of_element_located((By.ID, "patient-table")))
    browser.get(f"{url}/patients/{api.patients[1]}")
    message = _wait(browser, ec.presence_of_element_located((By.ID, "patient-error")))
    assert "not permitted" in message.text
    assert not browser.find_elements(By.ID, "scores-chart")
    assert any(
        e.action == "denied" and e.patient_id == api.patients[1]
        for e in api.context.audit.entries(limit=50)
    )


def test_browser__wrong_password_and_signed_out_pages(servers, browser):
    from selenium.webdriver.common.by import By

    _, url = servers
    browser.get(f"{url}/logout")
    browser.get(f"{url}/")
    _wait(browser, lambda d: "Please sign in" in d.find_element(By.ID, "page").text)
    browser.get(f"{url}/login")
    browser.find_element(By.ID, "username").send_keys("ruth")
    browser.find_element(By.ID, "password").send_keys("not the password!!")
    browser.find_element(By.ID, "sign-in").click()
    assert "wrong" in _wait(browser, lambda d: d.find_element(By.CLASS_NAME, "error")).text
