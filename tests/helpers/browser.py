"""Browser-check helpers: find Debian's Chromium for Playwright, start a local JupyterLab.

No browser is ever downloaded: Playwright drives the system ``chromium`` (installed by
``.ci/install-chromium``, called from ``make test``); without it the browser tests skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "browser"


def chromium_or_reason() -> tuple[str | None, str]:
    """``(path to chromium, "")`` or ``(None, why the browser tests cannot run)``."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None, "the playwright package is missing (pip install -e '.[dev]')"
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path, ""
    return None, "no chromium on PATH (.ci/install-chromium needs root and apt-get)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def simdr_kernel_path(tmp: Path) -> str:
    """A JUPYTER_PATH entry holding the ``simdr`` kernelspec ("Python (simdr)").

    ``make setup`` registers it in the venv (``--sys-prefix``); when this interpreter has
    none (e.g. a venv layered on another), a spec running this interpreter is written.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    found = KernelSpecManager().find_kernel_specs().get("simdr")
    if found:
        return str(Path(found).parents[1])
    spec = tmp / "jupyter" / "kernels" / "simdr"
    spec.mkdir(parents=True, exist_ok=True)
    argv = f'["{sys.executable}", "-m", "ipykernel_launcher", "-f", "{{connection_file}}"]'
    (spec / "kernel.json").write_text(
        f'{{"argv": {argv}, "display_name": "Python (simdr)", "language": "python"}}'
    )
    return str(tmp / "jupyter")


@contextmanager
def jupyter_lab(root_dir: Path, project: Path, tmp: Path) -> Iterator[str]:
    """A JupyterLab server on ``root_dir`` (localhost, random port, token); yields its URL.

    The kernel imports ``simdr_lib`` from ``project`` (PYTHONPATH) and runs interactively
    (``SIMDR_HEADLESS`` unset), so the notebook's widget explorer is shown.
    """
    port, token = free_port(), "simdr-browser-test"
    env = dict(os.environ)
    env.pop("SIMDR_HEADLESS", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH")]))
    paths = [simdr_kernel_path(tmp), env.get("JUPYTER_PATH", "")]
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, paths))
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root"]
    cmd += [f"--port={port}", "--ip=127.0.0.1", f"--ServerApp.token={token}"]
    cmd += [
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.news_url=",
        "--ServerApp.open_browser=False",
    ]
    log = open(tmp / "jupyterlab.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(f"{url}/api/status?token={token}", proc, tmp / "jupyterlab.log")
        yield f"{url}/lab/tree/{{path}}?token={token}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_until_up(status_url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Poll the server's status API until it answers (raises with its log if it dies)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(status_url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
