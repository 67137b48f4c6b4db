"""verdict.decide: the one place violations become a verdict (modes, waivers, bounds)."""

from __future__ import annotations

from tests.example_policy import NOW, example_policy
from webhook.engine.verdict import Judged, decide
from webhook.model.decision import Code, Violation
from webhook.model.rules import Mode


def _many_long_violations(count: int) -> tuple[Violation, ...]:
    return tuple(
        Violation(Code.HOST_ALIAS, f"hostAliases[{i}] names " + "x" * 500, f"spec.hostAliases[{i}]")
        for i in range(count)
    )


def test_warnings_stay_short_and_bounded_in_total_for_kubectl_and_the_api_server() -> None:
    decision = decide(
        Judged(violations=_many_long_violations(200)),
        policy=example_policy(), mode=Mode.WARN, namespace="shop", trusted=False, now=NOW,
    )
    assert decision.allowed
    assert all(len(w) <= 120 for w in decision.warnings)  # kubectl's line (RELIABILITY 4)
    assert sum(len(w.encode()) for w in decision.warnings) <= 4096
    assert decision.warnings[-1].endswith("more warnings not shown")


def test_refusal_messages_are_bounded_each() -> None:
    decision = decide(
        Judged(violations=_many_long_violations(3)),
        policy=example_policy(), mode=Mode.ENFORCE, namespace="shop", trusted=False, now=NOW,
    )
    assert not decision.allowed
    assert all(len(m) <= 300 for m in decision.messages)


def test_a_refusal_stays_small_however_many_violations_it_has() -> None:
    """RELIABILITY 29: a 3 MB object once produced a 15.9 MB refusal through the API server."""
    decision = decide(
        Judged(violations=_many_long_violations(100_000)),
        policy=example_policy(), mode=Mode.ENFORCE, namespace="shop", trusted=False, now=NOW,
    )
    assert not decision.allowed
    assert len(decision.summary.encode()) <= 4096
    assert decision.messages[-1].endswith("more problems not shown")
    assert decision.messages[-1].startswith(str(100_000 - len(decision.messages) + 1))


def test_a_waived_code_is_not_listed_and_the_warning_names_the_exception() -> None:
    violation = Violation(Code.NET_CAPABILITY, "adds NET_ADMIN", "spec.containers[0]")
    decision = decide(
        Judged(violations=(violation,), service_account="vpn-client"),
        policy=example_policy(), mode=Mode.ENFORCE, namespace="legacy", trusted=False, now=NOW,
    )
    assert decision.allowed and decision.codes == ()
    assert any("legacy-vpn" in w for w in decision.warnings)


def test_managed_label_is_never_waived_and_refused_even_in_off_mode() -> None:
    violation = Violation(Code.MANAGED_LABEL, "not entitled", 'metadata.labels["x"]')
    decision = decide(
        Judged(violations=(violation,), service_account="vpn-client"),
        policy=example_policy(), mode=Mode.OFF, namespace="legacy", trusted=True, now=NOW,
    )
    assert not decision.allowed and decision.codes == ("managed-label",)
