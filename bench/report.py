"""The load results as a person reads them: the table, the performance goals, and a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

SATURATION = 0
GOAL_RATE = 500


def save(results: Path, name: str, result: dict[str, Any]) -> Path:
    """Writes ``result`` as ``<results>/<name>.json``, indented, for a person to diff."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _bounded(server: dict[str, Any], key: str) -> str:
    """A server-side figure; "<=" when it is only a histogram bucket's upper bound."""
    value = server.get(key)
    if value is None:
        return "-"
    return f"<={value:g}" if "bound" in server.get("source", "") else f"{value:.2f}"


def table(load: dict[str, Any]) -> str:
    """One row per server and rate; ``max`` is the closed-loop saturation step."""
    width = max(16, *(len(step["server"]) for step in load["steps"]))
    header = (f"{'server':<{width}} {'rate':>5} {'done/s':>7} {'p50':>6} {'p99':>7} {'p99.9':>7} "
              f"{'srv p99':>7} {'srv p99.9':>9} {'lag p99':>7} {'errors':>6} {'CPU':>5} "
              f"{'RSS MiB':>7}")
    lines = [
        "load: latency in ms from each request's intended send time (open loop, HTTPS "
        "keep-alive);",
        "srv = as the server measured it (egressguard: its audit log's durations, exact; "
        "OPA: the bound of its histogram bucket);",
        "lag = how late the load generator itself handed a request to a connection",
        header,
        "-" * len(header),
    ]
    for step in load["steps"]:
        latency = step["latency_ms"]
        server = step.get("server_ms") or {}
        rate = "max" if step["rate"] == SATURATION else f"{step['rate']:.0f}"
        lines.append(
            f"{step['server']:<{width}} {rate:>5} {step['achieved_rps']:>7.0f} "
            f"{_ms(latency['p50']):>6} {_ms(latency['p99']):>7} {_ms(latency['p999']):>7} "
            f"{_bounded(server, 'p99'):>7} {_bounded(server, 'p999'):>9} "
            f"{_ms(step['send_lag_ms']['p99']):>7} {step['errors']:>6} "
            f"{step['cpu']:>5.2f} {step['rss_mib']:>7.1f}"
        )
    lines.append("max = closed loop, 16 connections back to back (its latencies are not "
                 "open-loop figures);")
    lines.append("CPU = server CPU seconds per wall second; RSS = the server's resident set "
                 "after the step.")
    saturated = [s for s in load["steps"] if s["rate"] == SATURATION and s["cpu"] > 0]
    if saturated:
        lines.append("saturation per server CPU second (capacity if it had a core to itself): "
                     + ", ".join(f"{s['server']} {s['achieved_rps'] / s['cpu']:.0f}"
                                 for s in saturated))
    return "\n".join(lines)


def _step(load: dict[str, Any], server: str, rate: int) -> dict[str, Any] | None:
    candidates = [s for s in load["steps"] if s["server"] == server and s["rate"] != SATURATION]
    if rate == SATURATION:
        candidates = [s for s in load["steps"] if s["server"] == server
                      and s["rate"] == SATURATION]
        return dict(candidates[0]) if candidates else None
    if not candidates:
        return None
    return dict(min(candidates, key=lambda s: abs(s["rate"] - rate)))


def goals(load: dict[str, Any], large: str) -> list[dict[str, Any]]:
    """Each performance goal with what this run measured (ratios within the one run)."""
    found: list[dict[str, Any]] = []

    def goal(name: str, value: float | None, limit: float, *, at_most: bool,
             unit: str = "") -> None:
        holds = None if value is None else (value <= limit if at_most else value >= limit)
        found.append({"goal": name, "measured": None if value is None else round(value, 3),
                      "limit": limit, "unit": unit, "holds": holds})

    ours = _step(load, "egressguard", GOAL_RATE)
    opa = _step(load, "opa", GOAL_RATE)
    big = _step(load, large, GOAL_RATE)
    server = (ours or {}).get("server_ms") or {}
    goal(f"server-side p99 at {GOAL_RATE} rps", server.get("p99"), 2.0, at_most=True,
         unit="ms")
    goal(f"server-side p99.9 at {GOAL_RATE} rps", server.get("p999"), 10.0, at_most=True,
         unit="ms")
    saturation = {name: (_step(load, name, SATURATION) or {}).get("achieved_rps")
                  for name in ("egressguard", "null", "opa")}

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    goal("saturation throughput / null webhook's", ratio(saturation["egressguard"],
                                                          saturation["null"]), 0.5,
         at_most=False)
    per_core = {name: ((_step(load, name, SATURATION) or {}).get("achieved_rps") or 0)
                / max((_step(load, name, SATURATION) or {}).get("cpu") or 0, 1e-9)
                for name in ("egressguard", "null", "opa")}
    goal("  the same per server CPU second / null's", ratio(per_core["egressguard"],
                                                             per_core["null"]), 0.5,
         at_most=False)
    goal(f"p99 at {GOAL_RATE} rps / OPA's", ratio(
        (ours or {}).get("latency_ms", {}).get("p99"),
        (opa or {}).get("latency_ms", {}).get("p99")), 1.0, at_most=True)
    goal("saturation throughput / OPA's", ratio(saturation["egressguard"], saturation["opa"]),
         1.0, at_most=False)
    goal("  the same per server CPU second / OPA's", ratio(per_core["egressguard"],
                                                            per_core["opa"]), 3.0,
         at_most=False)
    goal(f"p99 at {GOAL_RATE} rps, 100,000 grants / 10 grants", ratio(
        (big or {}).get("latency_ms", {}).get("p99"),
        (ours or {}).get("latency_ms", {}).get("p99")), 1.2, at_most=True)
    goal("  server-side p99, 100,000 grants / 10 grants", ratio(
        ((big or {}).get("server_ms") or {}).get("p99"), server.get("p99")), 1.2, at_most=True)
    goal("peak RSS with 100,000 grants", load["memory"].get(large, {}).get("peak_rss_mib"),
         150.0, at_most=True, unit="MiB")
    return found


def goals_table(found: list[dict[str, Any]]) -> str:
    lines = ["goals, this run:"]
    for item in found:
        state = {True: "holds", False: "DOES NOT HOLD", None: "not measured"}[item["holds"]]
        sign = "<=" if "p99" in item["goal"] or "RSS" in item["goal"] else ">="
        lines.append(f"  {item['goal']:<48} {item['measured']!s:>9} {item['unit']:<3} "
                     f"(goal {sign} {item['limit']:g}) {state}")
    return "\n".join(lines)


def chart(load: dict[str, Any], path: Path) -> Path:
    """Latency against offered rate for each server, log scale, as a PNG: as the client saw
    it (p50 and p99 from the intended send time), and as the server measured it (p99)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (client, server) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=72)
    names = list(dict.fromkeys(s["server"] for s in load["steps"]))
    for index, name in enumerate(names):
        steps = sorted((s for s in load["steps"]
                        if s["server"] == name and s["rate"] != SATURATION),
                       key=lambda s: s["rate"])
        rates = [s["rate"] for s in steps]
        color = f"C{index}"
        client.plot(rates, [s["latency_ms"]["p99"] for s in steps], "o-", color=color,
                    label=f"{name} p99")
        client.plot(rates, [s["latency_ms"]["p50"] for s in steps], "o--", color=color,
                    alpha=0.5, label=f"{name} p50")
        measured = [(s["rate"], s["server_ms"]["p99"]) for s in steps
                    if (s.get("server_ms") or {}).get("p99") is not None]
        if measured:
            server.plot([r for r, _ in measured], [v for _, v in measured], "o-", color=color,
                        label=f"{name} p99")
    client.set_title("client: from intended send (open loop, HTTPS keep-alive)", fontsize=10)
    server.set_title("server-side p99 (egressguard: audit log; OPA: histogram bucket bound)",
                     fontsize=10)
    for axis in (client, server):
        axis.set_yscale("log")
        axis.set_xlabel("offered load (requests/s)")
        axis.set_ylabel("latency (ms)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7, ncol=2 if axis is client else 1)
    figure.suptitle("admission latency against rate: egressguard, null webhook, OPA")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
