"""egressguard: the admission webhook that makes egress gateways trustworthy."""

__version__ = "0.1.0"
