"""``exceptions/<name>.yaml``: reviewed, expiring waivers of some violation codes.

A waiver is a deliberate hole, so it is read strictly: every code must be one egressguard
knows (a typo would waive nothing and hide the mistake), ``reason`` and ``expires`` are
required, and the two codes the access model rests on are refused with the reason why.
"""

from __future__ import annotations

from datetime import date

from webhook.loader.problems import Problems
from webhook.loader.schema import (
    did_you_mean,
    file_name_problem,
    header_problems,
    schema_problems,
)
from webhook.model.decision import UNWAIVABLE_CODES, Code
from webhook.model.rules import PolicyException, Source
from webhook.syntax.yamlstrict import LocatedDocument

FOLDER = "exceptions/"
KNOWN_CODES = tuple(code.value for code in Code)

# Why each unwaivable code stays enforced, for the message that refuses to waive it.
_WHY_UNWAIVABLE = {
    "managed-label": (
        "entitlement labels are what let a pod through the gateways, so a pod may never carry "
        "one it is not granted; add a grant under services/ instead"
    ),
    "namespace-mode": (
        "a namespace that could change its own mode label could switch enforcement off; ask "
        "the security team to set the mode"
    ),
}


def _code_problem(code: str) -> str | None:
    if code in UNWAIVABLE_CODES:
        why = _WHY_UNWAIVABLE.get(code, "the access model rests on it")
        return f"{code!r} cannot be waived: {why}"
    if code not in KNOWN_CODES:
        return (
            f"unknown code {code!r}{did_you_mean(code, KNOWN_CODES)}; the codes are "
            f"{', '.join(KNOWN_CODES)}"
        )
    return None


def build_exception(
    doc: LocatedDocument, *, path: str, stem: str, problems: Problems
) -> PolicyException | None:
    """The waiver in ``doc``, or ``None`` after reporting why it is not one."""
    found = header_problems(doc, "Exception", folder=FOLDER)
    found = found or schema_problems(doc, "Exception")
    for line, message in found:
        problems.error(path, line, message)
    if found:
        return None
    name = str(doc.value["metadata"]["name"])
    spec = doc.value["spec"]
    misnamed = file_name_problem(doc, folder=FOLDER, stem=stem, what="an exception")
    if misnamed is not None:
        problems.error(path, *misnamed)
    ok = misnamed is None
    for index, code in enumerate(spec["codes"]):
        problem = _code_problem(code)
        if problem is not None:
            problems.error(
                path, doc.line_of(("spec", "codes", index)), f"spec.codes[{index}]: {problem}"
            )
            ok = False
    written = spec["expires"]
    try:
        expires = written if isinstance(written, date) else date.fromisoformat(str(written))
    except ValueError:
        problems.error(
            path,
            doc.line_of(("spec", "expires")),
            f"spec.expires: {written!s} is not a date (YYYY-MM-DD, such as 2027-03-31)",
        )
        ok = False
    if not ok:
        return None
    return PolicyException(
        name=name,
        namespace=str(spec["namespace"]),
        codes=frozenset(spec["codes"]),
        expires=expires,
        service_account=spec.get("serviceAccount"),
        reason=str(spec["reason"]),
        source=Source(path, doc.line),
    )
