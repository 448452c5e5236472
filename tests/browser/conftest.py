"""Fixtures for the browser tests: JupyterLab on a copy of the course, and headless Chromium.

The server runs from this virtualenv (`sys.executable -m jupyter lab`) on a loopback port with a
fresh token, in a temporary copy of the course (nbgrader_config.py, solutions/, assignments/), with
Jupyter's config, runtime, data and IPython dirs isolated so a user's own settings cannot leak in.
Playwright drives Debian's Chromium (`apt-get install chromium`); it never downloads a browser.
Its kernels make quick runs (COURSE_QUICK=1, `runtime.quick()`): the demo cells train for seconds,
since these tests check what JupyterLab shows, and nbval runs every notebook at its own size.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
STARTUP_TIMEOUT_S = 60
VIEWPORT = {"width": 1280, "height": 900}

# Settings written to the isolated user-settings dir: every cell stays in the DOM (so widgets and
# plots of off-screen cells render and can be counted), and no news/update prompt covers the page.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
}


@dataclass
class LabServer:
    """A running JupyterLab server: where it listens, how to log in, its process."""

    base_url: str
    token: str
    process: subprocess.Popen

    def url(self, path: str, **query: str) -> str:
        """The full URL of `path` (e.g. "lab/tree/x.ipynb"), logged in with the token."""
        params = "&".join(f"{key}={value}" for key, value in {**query, "token": self.token}.items())
        return f"{self.base_url}/{path}?{params}"

    def api(self, method: str, path: str) -> bytes:
        """Call the server's REST API (e.g. "GET", "api/sessions") and return the body."""
        request = urllib.request.Request(f"{self.base_url}/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()


def find_chromium() -> str | None:
    """Path of the system Chromium (Debian's `chromium`, Ubuntu's `chromium-browser`), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def prepare_course_copy(target: Path) -> None:
    """Copy the course into `target` and make the student notebooks runnable top to bottom.

    The copies lose their committed outputs (every output seen later comes from this run) and every
    code cell gets the `raises-exception` tag, with which JupyterLab asks the kernel not to abort
    the queued cells after an error: Run All then runs every cell of an unsolved notebook, where
    the graded stubs raise NotImplementedError.
    """
    shutil.copy(ROOT / "nbgrader_config.py", target)
    for folder in ("solutions", "assignments"):
        shutil.copytree(ROOT / folder, target / folder,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for path in (target / "assignments").glob("ch*/*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
                tags = cell.metadata.setdefault("tags", [])
                if "raises-exception" not in tags:
                    tags.append("raises-exception")
        nbformat.write(notebook, path)


def isolated_environment(home: Path) -> dict[str, str]:
    """Environment for the server: the venv's bin first on PATH, Jupyter's own dirs under `home`.

    sys.prefix stays on Jupyter's data path, so the venv's labextensions (nbgrader, ipywidgets)
    and kernelspec are found; nbgrader shells out to alembic, hence the venv's bin on PATH.
    """
    env = dict(os.environ)
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_PREFER_ENV_PATH="1",
        OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
        COURSE_QUICK="1",
    )
    for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR", "JUPYTER_PATH",
                 "JUPYTER_CONFIG_PATH", "MPLBACKEND"):
        env.pop(name, None)
    return env


def write_jupyter_config(config_dir: Path, exchange: Path) -> None:
    """Lab settings (LAB_SETTINGS) and an nbgrader exchange inside the isolated config dir."""
    for name, settings in LAB_SETTINGS.items():
        path = config_dir / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    exchange.mkdir(parents=True)
    (config_dir / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.Exchange.root = {str(exchange)!r}\n")


def wait_for_server(process: subprocess.Popen, runtime_dir: Path, token: str,
                    log_path: Path) -> str:
    """The started server's base URL once it answers; fails with its log after 60 s or an exit.

    The server picks a free port itself (--ServerApp.port=0) and writes it to its runtime file
    jpserver-<pid>.json in the isolated runtime dir.
    """
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"jupyter lab exited with code {process.returncode}:\n"
                        f"{log_path.read_text(errors='replace')}")
        for info_file in runtime_dir.glob("jpserver-*.json"):
            try:
                base_url = f"http://127.0.0.1:{json.loads(info_file.read_text())['port']}"
                status = urllib.request.Request(f"{base_url}/api/status",
                                                headers={"Authorization": f"token {token}"})
                urllib.request.urlopen(status, timeout=10)
                return base_url
            except (json.JSONDecodeError, KeyError, urllib.error.URLError, ConnectionError):
                pass  # the file is half written, or the server is not listening yet
        time.sleep(0.25)
    pytest.fail(f"jupyter lab did not answer within {STARTUP_TIMEOUT_S} s:\n"
                f"{log_path.read_text(errors='replace')}")


def terminate(process: subprocess.Popen) -> None:
    """Stop a process: SIGTERM, then SIGKILL if it has not exited after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_server(app: str, root: Path, home: Path, *flags: str) -> LabServer:
    """Start `jupyter APP` (lab or server) on a loopback port with a fresh token, serving and
    working in `root`, with Jupyter's dirs isolated under `home`; return it once it answers."""
    token = secrets.token_hex(24)
    command = [sys.executable, "-m", "jupyter", app, "--no-browser", "--ServerApp.ip=127.0.0.1",
               "--ServerApp.port=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", *flags]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=root, env=isolated_environment(home),
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        base_url = wait_for_server(process, home / "runtime", token, log_path)
    except BaseException:
        terminate(process)
        raise
    return LabServer(base_url, token, process)


def stop(server: LabServer) -> None:
    """Shut the server down through its API (which stops its kernels too), else terminate it."""
    try:
        server.api("POST", "api/shutdown")
        server.process.wait(timeout=30)
    except (urllib.error.URLError, ConnectionError, subprocess.TimeoutExpired):
        terminate(server.process)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium; without it the browser tests are skipped (under CI: they fail)."""
    path = find_chromium()
    if path is None:
        message = ("browser tests need the system Chromium: install it with "
                   "`apt-get install chromium` (Playwright never downloads a browser here)")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI must install it: see .ci/run)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, chromium_path) -> Iterator[LabServer]:
    """JupyterLab (with nbgrader and ipywidgets) serving a temporary copy of the course."""
    course = tmp_path_factory.mktemp("course")
    home = tmp_path_factory.mktemp("jupyter_home")
    prepare_course_copy(course)
    write_jupyter_config(home / "config", home / "exchange")
    server = start_server("lab", course, home, "--LabApp.expose_app_in_browser=True")
    yield server
    stop(server)


@pytest.fixture(scope="session")
def browser(chromium_path):
    """Headless system Chromium driven by Playwright."""
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=args)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, lab_server):
    """A fresh browser page; afterwards the kernels it started are shut down."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()
    for session in json.loads(lab_server.api("GET", "api/sessions")):
        lab_server.api("DELETE", f"api/sessions/{session['id']}")


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """build/screenshots/, where each chapter's screenshot goes."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
