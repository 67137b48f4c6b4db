"""What a kubelet would do for the Helm chart, in a control plane that has none: run a
Job's container command here, as the Job's own service account (so its RBAC is what is
tested), record the outcome in the Job's status as the Job controller would, and report
a Deployment's pods ready.

Only the chart's two images are understood: egressguard (this checkout's ``egressguard``)
and kubectl (the control plane's own kubectl).
"""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path
from typing import Any

from .controlplane import ControlPlane
from .kubectl import Kubectl, Result
from .webhook_process import egressguard_argv


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def service_account_kubeconfig(plane: ControlPlane, admin: Kubectl, namespace: str,
                               account: str, workdir: Path) -> Path:
    token = admin.run("create", "token", account, "-n", namespace, "--duration=1h",
                      check=True).stdout.strip()
    return plane.write_kubeconfig(workdir / f"{namespace}-{account}.kubeconfig",
                                  user=f"system:serviceaccount:{namespace}:{account}",
                                  token=token)


def job_command(job: dict[str, Any]) -> tuple[str, list[str]]:
    """The Job's image and its container's command and arguments."""
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container["image"], [*container.get("command", []), *container.get("args", [])]


def run_job(plane: ControlPlane, admin: Kubectl, job: dict[str, Any], workdir: Path,
            *, replace: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """Runs the Job's container command here as its service account; ``replace`` swaps
    single arguments (e.g. a shorter ``--timeout``)."""
    namespace = job["metadata"]["namespace"]
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = service_account_kubeconfig(plane, admin, namespace, account, workdir)
    image, command = job_command(job)
    command = [(replace or {}).get(arg, arg) for arg in command]
    if "/kubectl:" in image:
        assert command[0] == "kubectl", command
        argv = [str(admin.binary), f"--kubeconfig={kubeconfig}", *command[1:]]
    elif "/egressguard" in image:
        argv = egressguard_argv(*command, "--kubeconfig", str(kubeconfig))
    else:
        raise ValueError(f"no stand-in for the image {image}")
    # In the work folder, where kubectl may keep its cache (the environment names no HOME).
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=workdir, env=dict(admin.env))
    return Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


def finish_job(admin: Kubectl, job: dict[str, Any], *, succeeded: bool) -> None:
    """Records the Job as complete or failed, as the Job controller would."""
    now = _now()
    if succeeded:
        status = {"startTime": now, "completionTime": now, "succeeded": 1, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now}]}
    else:
        status = {"startTime": now, "failed": 1, "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": now,
             "reason": "BackoffLimitExceeded", "message": "Job has reached the backoff limit"}
            for kind in ("FailureTarget", "Failed")]}
    admin.run("patch", "job", job["metadata"]["name"], "-n", job["metadata"]["namespace"],
              "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}),
              check=True)


def _ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def report_pods_ready(admin: Kubectl, namespace: str, selector: str) -> int:
    """Marks every pod matching ``selector`` running and ready; returns how many."""
    pods = admin.get_json("pods", "-n", namespace, "-l", selector)["items"]
    _report(admin, pods)
    return len(pods)


def report_new_pods_ready(admin: Kubectl) -> int:
    """Marks every pod of the cluster not yet ready as running and ready, as kubelets
    would once its containers started; returns how many."""
    pods = [p for p in admin.get_json("pods", "-A")["items"]
            if not _ready(p) and not p["metadata"].get("deletionTimestamp")]
    _report(admin, pods)
    return len(pods)


def _report(admin: Kubectl, pods: list[dict[str, Any]]) -> None:
    now = _now()
    for pod in pods:
        namespace = pod["metadata"]["namespace"]
        containers = [c["name"] for c in pod["spec"]["containers"]]
        status = {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now}],
            "containerStatuses": [
                {"name": name, "ready": True, "started": True, "restartCount": 0,
                 "image": "stand-in", "imageID": "", "state": {"running": {"startedAt": now}}}
                for name in containers]}
        admin.run("patch", "pod", pod["metadata"]["name"], "-n", namespace,
                  "--subresource=status", "--type=merge", "-p",
                  json.dumps({"status": status}))  # a pod deleted meanwhile is no error
