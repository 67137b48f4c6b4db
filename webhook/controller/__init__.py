"""Keeping the cluster in step with the rules: ``egressguard serve --reconcile``.

:mod:`desired` decides, purely, what should be in the cluster (``render``'s objects, the
fence in every judged namespace) and when that next changes by itself (a grant or
exception lapsing); :mod:`kinds` lists the kinds render writes; :mod:`cluster` talks to the
API server; :mod:`controller` elects a leader and reconciles on every trigger.
"""
