"""``egressguard learn``: turning what warn mode and the gateways saw into proposed rules.

Reading is pure (lines in, observations and skipped lines out: :mod:`.audit_log`,
:mod:`.access_log`), so is proposing (:mod:`.proposal`: a Policy and observations in, the
Destinations, ports and grant files that would have admitted them out); only
:mod:`.output` writes, and only into a copy of the rules repository, never the live one.
"""

from webhook.learn.access_log import read_access_log
from webhook.learn.audit_log import read_audit_log
from webhook.learn.observations import Evidence, Need, Reading, Skipped, Unattributed
from webhook.learn.output import OutError, write_proposal
from webhook.learn.proposal import Proposal, propose

__all__ = [
    "Evidence",
    "Need",
    "OutError",
    "Proposal",
    "Reading",
    "Skipped",
    "Unattributed",
    "propose",
    "read_access_log",
    "read_audit_log",
    "write_proposal",
]
