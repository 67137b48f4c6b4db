"""Where the rules and the cluster come from, for every command that reads them: the rules
repository by default, ``--kubeconfig``, and whether egressguard runs in a pod."""

from __future__ import annotations

import argparse
import os
from importlib import resources
from pathlib import Path

from webhook.cli.options import FILE, complete, existing_file_name

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def bundled_rules() -> Path:
    """The example rules shipped in the package, or a checkout's ``rules/`` (an editable
    install, where the build step that copies them in does not run)."""
    packaged = resources.files("webhook").joinpath("example_rules")
    if isinstance(packaged, Path) and (packaged / "config.yaml").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "rules"


def default_rules() -> Path:
    """$EGRESSGUARD_RULES, else ./rules, else the example rules."""
    if env := os.environ.get("EGRESSGUARD_RULES"):
        return Path(env)
    local = Path("rules")
    return local if (local / "config.yaml").is_file() else bundled_rules()


def in_cluster() -> bool:
    """Running in a pod with a service account token mounted."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.is_file()


def add_kubeconfig(parser: argparse.ArgumentParser, help: str) -> None:
    """``--kubeconfig FILE``, an existing file; ``help`` says what the command reads with it
    and its default."""
    complete(parser.add_argument("--kubeconfig", type=existing_file_name, default=None,
                                 metavar="FILE", help=help), FILE)


def given_kubeconfig(option: str | None) -> str | None:
    """``--kubeconfig``, else the first file of $KUBECONFIG, else None."""
    if option:
        return option
    if env := os.environ.get("KUBECONFIG"):
        return env.split(os.pathsep)[0]
    return None
