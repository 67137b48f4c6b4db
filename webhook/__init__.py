"""egressguard: the admission webhook that makes egress gateways trustworthy."""

from importlib import metadata

try:
    __version__ = metadata.version("egressguard")
except metadata.PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
