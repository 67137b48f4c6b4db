"""The emergency exit (RELIABILITY 16): with egressguard down, pod creation fails closed;
deleting the two webhook configurations, exactly as the README's Troubleshooting says, lets
the API server admit again; applying them back restores judging."""

from __future__ import annotations

import pytest

from . import expect
from .cluster import EgressguardCluster
from .kubectl import Kubectl, Result
from .objects import pod, unique
from .processes import wait_until

pytestmark = [pytest.mark.e2e]

# The README's commands, word for word.
EXIT = (("delete", "validatingwebhookconfiguration", "egressguard"),
        ("delete", "mutatingwebhookconfiguration", "egressguard"))


def test_deleting_the_webhook_configurations_is_the_emergency_exit(
    egressguard: EgressguardCluster, developer: Kubectl, admin: Kubectl
) -> None:
    egressguard.webhook.stop()
    created: list[str] = []
    try:
        blocked = developer.apply(pod(unique("blocked"), "shop", service_account="checkout"))
        assert blocked.returncode != 0 and "failed calling webhook" in blocked.stderr, blocked
        for command in EXIT:
            admin.run(*command, check=True)
        last: list[Result] = []

        def admitted() -> bool:
            name = unique("after-exit")
            result = developer.apply(pod(name, "shop", service_account="checkout"))
            last[:] = [result]
            if result.returncode == 0:
                created.append(name)
            return result.returncode == 0

        wait_until(admitted, timeout=15, what=f"admission without egressguard: {last}")
    finally:
        egressguard.webhook.start()
        egressguard.register_webhook()
    # Judging is back: a pod on the host network is refused again.
    def refused() -> bool:
        result = developer.apply(pod(unique("host"), "shop", hostNetwork=True))
        return result.returncode != 0 and "host-network" in result.stderr

    wait_until(refused, timeout=15, what="egressguard judging again")
    for name in created:
        expect.admitted(developer.run("delete", "pod", name, "-n", "shop", "--wait=false"))
