"""``egressguard audit``: what is already in a cluster, judged with the webhook's engine.

:mod:`inventory` reads the cluster (paginated lists of every judged kind, the namespaces,
the fences); :mod:`judging` is pure: it runs each object through ``webhook.engine.evaluate``
as a CREATE in its namespace's mode and compares each pod's entitlement labels with what
it is entitled to now (:mod:`labels`); :mod:`readiness` says per namespace whether it can
move from warn to enforce; :mod:`reports` turns the result into policy reports, and
:mod:`table` into text for a person. The server runs the same audit on an interval
(:mod:`webhook.server.auditing`).
"""
