"""The audit as text for a person: what to fix, then where each namespace stands."""

from __future__ import annotations

from collections.abc import Sequence

from webhook.audit.findings import Audit


def _columns(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            .rstrip() for row in rows]


def table(audit: Audit) -> str:
    lines: list[str] = []
    lines.append(f"Objects that would be refused or warned about now ({len(audit.findings)}):")
    if audit.findings:
        rows: list[tuple[str, ...]] = [("NAMESPACE", "KIND", "NAME", "RESULT", "CODES", "OWNER")]
        rows += [(f.object.namespace or "-", f.object.kind, f.object.name, f.result.value,
                  ",".join(f.codes), str(f.owner) if f.owner else "-") for f in audit.findings]
        lines += [f"  {line}" for line in _columns(rows)]
        lines.append("")
        for finding in audit.findings:
            lines.append(f"  {finding.object}:")
            lines += [f"    [{v.code}] {v.message}" for v in finding.violations]
    lines.append("")
    lines.append(f"Pods whose entitlement labels differ from their grants ({len(audit.labels)}):")
    if audit.labels:
        rows = [("NAMESPACE", "POD", "SERVICEACCOUNT", "STALE (recreate to drop)",
                 "MISSING (recreate to get)")]
        rows += [(d.pod.namespace, d.pod.name, d.service_account, ",".join(d.stale) or "-",
                  ",".join(d.missing) or "-") for d in audit.labels]
        lines += [f"  {line}" for line in _columns(rows)]
    lines.append("")
    lines.append(f"Judged namespaces without the egressguard-fence NetworkPolicy "
                 f"({len(audit.unfenced)}):")
    if audit.unfenced:
        lines.append("  " + ", ".join(audit.unfenced))
    lines.append("")
    lines.append("Readiness (warn -> enforce):")
    if audit.readiness:
        rows = [("NAMESPACE", "MODE", "STATE")]
        rows += [(r.namespace, r.mode, r.line) for r in audit.readiness]
        lines += [f"  {line}" for line in _columns(rows)]
    if audit.unserved:
        lines.append("")
        lines.append("Judged kinds this cluster does not serve (none to audit): "
                     + ", ".join(audit.unserved))
    if audit.unreadable:
        lines.append("")
        lines.append("INCOMPLETE: not allowed to list (grant list on them): "
                     + ", ".join(audit.unreadable))
    lines.append("")
    lines.append(f"{audit.objects} objects judged.")
    return "\n".join(lines) + "\n"
