"""The layering the code depends on is checked, not hoped for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parent.parent


def test_import_layers_hold() -> None:
    """cli -> server -> loader/certs/render -> engine -> model; the engine stays pure."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken" in result.stdout


def test_a_server_without_a_cluster_never_imports_the_kubernetes_client() -> None:
    """The client and its dependencies cost each worker about 20 MiB: only the namespace
    watch, the controller, the periodic audit and ``egressguard audit`` import it, when
    they run."""
    probe = (
        "import sys\n"
        "from webhook.cli.main import build_parser\n"
        "build_parser()\n"
        "import webhook.server.app, webhook.server.runner\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'pydantic')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout
