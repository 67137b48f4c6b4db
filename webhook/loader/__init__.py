"""Reading rules from disk: the rules repository into a Policy, and documents for ``validate``.

This is the only layer that parses YAML; the engine receives plain values and a Policy.
"""

from webhook.loader.documents import Document, DocumentError, read_documents
from webhook.loader.problems import Problem, RulesError, Severity
from webhook.loader.repository import LoadResult, load_repository

__all__ = [
    "Document",
    "DocumentError",
    "LoadResult",
    "Problem",
    "RulesError",
    "Severity",
    "load_repository",
    "read_documents",
]
