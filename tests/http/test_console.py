"""The web console (``/ui/``) driven in real headless Chromium against a real 3-node cluster.

The page only calls the REST API, so each test changes the cluster through that API and
waits (WebDriverWait, never a sleep) for the page to show it: the members and the leader,
a node's data and stat, a lock's holder and waiter, an event after a write, a write made
through the page's own confirm dialog, and in secure mode the 401 in words when no token
is given. Each panel's screenshot is saved under the test run's temporary directory.
"""

from __future__ import annotations

import http.client
import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from skylock.http.console import FILES
from skylock.security import load_credentials
from tests.http.conftest import http_port
from tests.http.rest import Rest
from tests.integration.cluster import LocalCluster, running_cluster, wait_until

#: Longest the page may take to show what the cluster already did (it polls every 2-3 s).
SHOWN_WITHIN = 20.0


def browser_binary(*names: str) -> str:
    """Debian's chromium and chromium-driver (``.ci/run`` installs them)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(f"none of {names} is installed: apt-get install chromium chromium-driver")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = browser_binary("chromium", "chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1360,860", "--ignore-certificate-errors"):  # secure mode's own CA
        options.add_argument(arg)
    options.accept_insecure_certs = True
    driver = webdriver.Chrome(options=options, service=Service(browser_binary("chromedriver")))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screenshots")


@pytest.fixture(scope="module")
def console(cluster: LocalCluster) -> str:
    return f"http://127.0.0.1:{http_port(cluster, 1)}"


def shown(driver: WebDriver, what: str, condition: Callable[[WebDriver], Any]) -> Any:
    """Wait for ``condition``; the panels re-render as they refresh, so an element found a
    moment ago may be gone: that counts as not yet. A timeout says what the page showed."""
    wait = WebDriverWait(driver, SHOWN_WITHIN, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException])
    try:
        return wait.until(condition, f"the page to show {what}")
    except TimeoutException as exc:
        raise AssertionError(f"the page did not show {what} within {SHOWN_WITHIN:g}s; it showed {page_state(driver)}") from exc


def page_state(driver: WebDriver) -> dict[str, str]:
    """The page's status lines and every alert it shows, with the page's own request log."""
    return dict(driver.execute_script("""
        const state = {url: location.href};
        for (const el of document.querySelectorAll('.alert:not([hidden]), .status-dot')) {
          state['#' + el.id] = el.innerText;
        }
        state.requests = performance.getEntriesByType('resource').slice(-12)
          .map((r) => `${r.name.replace(location.origin, '')} ${Math.round(r.duration)}ms`).join(' | ');
        return state;
    """))


def text(driver: WebDriver, css: str) -> str:
    """The visible text of the first element matching ``css`` ("" while there is none),
    read in one step in the page so a refresh cannot replace it half-way."""
    return str(driver.execute_script("const el = document.querySelector(arguments[0]); return el ? el.innerText : '';", css))


def open_tab(driver: WebDriver, base: str, tab: str) -> None:
    """A fresh load of the page on ``tab`` (a new hash alone would not reload it)."""
    driver.get("about:blank")
    driver.get(f"{base}/ui/#{tab}")
    shown(driver, f"the {tab} tab", lambda d: d.find_element(By.ID, f"panel-{tab}").is_displayed())


def snap(driver: WebDriver, screenshots: Path, name: str) -> None:
    path = screenshots / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 0


def confirm(driver: WebDriver, expected: str) -> None:
    """Accept the page's confirm dialog, which must say ``expected``."""
    dialog = shown(driver, "the confirm dialog", lambda d: d.find_element(By.ID, "confirm-dialog").is_displayed()
                   and d.find_element(By.ID, "confirm-dialog"))
    assert expected in dialog.text
    driver.find_element(By.ID, "confirm-ok").click()


def fetch(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, dict(resp.headers.items()), resp.read()
    finally:
        conn.close()


def test_the_root_redirects_to_the_console_which_serves_only_its_own_files(api: Rest) -> None:
    status, headers, _ = fetch(api.port, "/")
    assert status == 302 and headers["Location"] == "/ui/"
    for name, media_type in {"": "text/html", **FILES}.items():
        status, headers, body = fetch(api.port, f"/ui/{name}")
        assert status == 200 and headers["Content-Type"].startswith(media_type) and body
        assert "default-src 'self'" in headers["Content-Security-Policy"]  # nothing from elsewhere
    status, _, body = fetch(api.port, "/ui/..%2F__init__.py")
    assert status == 404 and json.loads(body)["error"]["code"] == "NotFound"


def test_cluster_panel_shows_three_members_and_the_leader(
    cluster: LocalCluster, console: str, browser: WebDriver, screenshots: Path,
) -> None:
    leader = cluster.leader()
    browser.get(console + "/")  # the redirect a reader would follow
    shown(browser, "three members", lambda d: len(d.find_elements(By.CSS_SELECTOR, "#members-body tr[data-node]")) == 3)
    assert browser.current_url.endswith("/ui/#cluster")
    shown(browser, "the leader marked", lambda d: text(d, f'#members-body tr[data-node="{leader}"] td.role') == "leader")
    rows = {int(r.get_attribute("data-node")): r for r in browser.find_elements(By.CSS_SELECTOR, "#members-body tr")}
    assert sorted(rows) == [1, 2, 3]
    assert [n for n, r in rows.items() if "is-leader" in (r.get_attribute("class") or "")] == [leader]
    shown(browser, "every member healthy", lambda d: text(d, "#cluster-cards") and "3 / 3" in text(d, "#cluster-cards"))
    assert f"leader: node {leader}" in text(browser, "#cluster-chip")
    snap(browser, screenshots, "cluster")


def test_tree_panel_opens_a_node_and_reads_its_data_and_stat(
    api: Rest, console: str, browser: WebDriver, screenshots: Path,
) -> None:
    assert api.put("/v1/nodes/console/config", {"data": "console says hello"}).status == 201
    assert api.put("/v1/nodes/console/blob", {"data": "AAECA//+", "encoding": "base64"}).status == 201
    open_tab(browser, console, "tree")
    shown(browser, "/console in the hierarchy", lambda d: d.find_elements(By.CSS_SELECTOR, '#tree-root li[data-path="/console"]'))
    browser.find_element(By.CSS_SELECTOR, '#tree-root li[data-path="/console"] .tree-row').click()
    shown(browser, "the children of /console",
          lambda d: d.find_elements(By.CSS_SELECTOR, '#tree-root li[data-path="/console/config"]'))
    browser.find_element(By.CSS_SELECTOR, '#tree-root li[data-path="/console/config"] .tree-row').click()
    shown(browser, "the node's data", lambda d: text(d, "#node-path") == "/console/config"
          and text(d, "#node-data") == "console says hello")
    shown_stat = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#node-stat tr')]"
        ".map((tr) => [tr.cells[0].innerText, tr.cells[1].innerText]))")
    stat = api.get("/v1/nodes/console/config").body["stat"]
    for field, label in [("version", "version"), ("cversion", "cversion"), ("czxid", "czxid"), ("mzxid", "mzxid"),
                         ("pzxid", "pzxid"), ("data_length", "data length"), ("num_children", "children")]:
        assert shown_stat[label] == str(stat[field]), label
    assert "persistent" in shown_stat["ephemeral owner"]
    snap(browser, screenshots, "tree")

    browser.find_element(By.CSS_SELECTOR, '#tree-root li[data-path="/console/blob"] .tree-row').click()
    shown(browser, "binary data as hex", lambda d: text(d, "#node-path") == "/console/blob"
          and "00 01 02 03 ff fe" in text(d, "#node-data"))


def test_tree_panel_writes_only_after_confirmation_and_with_the_version_it_read(
    api: Rest, console: str, browser: WebDriver,
) -> None:
    assert api.put("/v1/nodes/console/edited", {"data": "v0"}).status == 201
    open_tab(browser, console, "tree")
    browser.find_element(By.ID, "goto-path").clear()
    browser.find_element(By.ID, "goto-path").send_keys("/console/edited\n")
    shown(browser, "the node", lambda d: text(d, "#node-data") == "v0")
    assert api.post("/v1/nodes/console/edited", {"data": "v1"}).status == 200  # someone else writes meanwhile

    browser.find_element(By.ID, "node-edit").click()
    data = browser.find_element(By.ID, "f-data")
    data.clear()
    data.send_keys("from the console")
    browser.find_element(By.CSS_SELECTOR, "#node-form button[type=submit]").click()
    confirm(browser, "only if it is still at version 0")
    shown(browser, "the version conflict in words", lambda d: "409 BadVersion" in text(d, "#tree-error"))
    assert api.get("/v1/nodes/console/edited").body["data"] == "v1"

    browser.find_element(By.ID, "f-version").clear()
    browser.find_element(By.ID, "f-version").send_keys("1")
    browser.find_element(By.CSS_SELECTOR, "#node-form button[type=submit]").click()
    confirm(browser, "only if it is still at version 1")
    shown(browser, "the new data", lambda d: text(d, "#node-data") == "from the console")
    assert api.get("/v1/nodes/console/edited").body["data"] == "from the console"


def test_sessions_panel_shows_a_locks_holder_and_its_waiter(
    api: Rest, console: str, browser: WebDriver, screenshots: Path,
) -> None:
    holder, waiter = api.session("console-a", 60), api.session("console-b", 60)
    got = api.post("/v1/locks/console-jobs", {"session_id": holder, "owner": "alpha"})
    assert got.status == 200 and got.body["owner"] == "alpha"
    queued: list[Any] = []
    waiting = threading.Thread(target=lambda: queued.append(api.post(
        "/v1/locks/console-jobs", {"session_id": waiter, "owner": "beta", "timeout_ms": 60000}, timeout=90)))
    waiting.start()
    try:
        wait_until(lambda: api.get("/v1/locks/console-jobs").body["waiters"], what="beta queued")
        open_tab(browser, console, "sessions")
        row = '#locks-body tr[data-lock="console-jobs"]'
        shown(browser, "the holder and the waiter", lambda d: "alpha" in text(d, f"{row} td.holder")
              and "beta" in text(d, f"{row} td.waiters"))
        info = api.get("/v1/locks/console-jobs").body
        assert str(info["holder"]["token"]) in text(browser, row)
        assert info["holder"]["session"] in text(browser, f"{row} td.holder")
        sessions = {r.get_attribute("data-session"): r.text
                    for r in browser.find_elements(By.CSS_SELECTOR, "#sessions-body tr[data-session]")}
        assert "console-a" in sessions[info["holder"]["session"]] and "holds" in sessions[info["holder"]["session"]]
        assert "waits (#1)" in sessions[info["waiters"][0]["session"]]
        snap(browser, screenshots, "sessions")
    finally:
        api.delete(f"/v1/session/{waiter}")
        api.delete(f"/v1/session/{holder}")
        waiting.join(timeout=30)
    assert not waiting.is_alive() and queued and queued[0].status != 200  # its session closed while it waited


def test_events_panel_shows_an_event_after_a_write(
    api: Rest, console: str, browser: WebDriver, screenshots: Path,
) -> None:
    open_tab(browser, console, "events")
    path = browser.find_element(By.ID, "watch-path")
    path.clear()
    path.send_keys("/console-events\n")  # Enter submits the form: no click on a page still laying out
    shown(browser, "the watch running", lambda d: "Watching /console-events" in text(d, "#watch-status"))
    assert api.put("/v1/nodes/console-events/e1", {"data": "x"}).status == 201
    shown(browser, "the created event", lambda d: d.find_elements(
        By.CSS_SELECTOR, '#events-body tr[data-type="created"][data-path="/console-events/e1"]'))
    assert api.post("/v1/nodes/console-events/e1", {"data": "y"}).status == 200
    shown(browser, "the data_changed event", lambda d: d.find_elements(
        By.CSS_SELECTOR, '#events-body tr[data-type="data_changed"][data-path="/console-events/e1"]'))
    snap(browser, screenshots, "events")
    browser.find_element(By.ID, "watch-toggle").click()
    shown(browser, "the watch stopped", lambda d: text(d, "#watch-status") == "Not watching")


def test_secure_mode_without_a_token_shows_the_401_and_a_token_opens_it(
    tmp_path: Path, browser: WebDriver, screenshots: Path,
) -> None:
    with running_cluster(tmp_path, nodes=1, secure=True) as secure:
        base = f"https://127.0.0.1:{http_port(secure, 1)}"
        open_tab(browser, base, "cluster")
        banner: Callable[[WebDriver], WebElement | bool] = (
            lambda d: d.find_element(By.ID, "auth-banner").is_displayed() and d.find_element(By.ID, "auth-banner"))
        assert "401 Unauthenticated" in shown(browser, "the 401 banner", banner).text
        shown(browser, "the 401 in the panel", lambda d: "401 Unauthenticated" in text(d, "#cluster-error")
              and "requires a token" in text(d, "#cluster-error"))
        snap(browser, screenshots, "secure-401")
        token = load_credentials(tmp_path / "credentials.yaml").token
        assert token
        browser.find_element(By.ID, "auth-token").send_keys(token + "\n")
        shown(browser, "the member once the token is sent",
              lambda d: len(d.find_elements(By.CSS_SELECTOR, "#members-body tr[data-node]")) == 1
              and not d.find_element(By.ID, "auth-banner").is_displayed())
