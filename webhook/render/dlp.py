"""Data-leak protection: the Lua HTTP filter that refuses a request body carrying a blocked pattern.

The same script runs in every mode (an EnvoyFilter on an Istio egress gateway, a
TrafficExtension on a waypoint, inline in a per-destination Envoy), so it guards itself: it
acts only on requests for its destination's hosts, since a gateway is shared.

Patterns are matched as plain bytes (``string.find`` with ``plain = true``), never as Lua
patterns, so ``-----BEGIN`` means what it says. Each is written as a Lua string literal
with every byte outside printable ASCII, and the quote and backslash, as a three-digit
decimal escape, so no pattern can end the string or inject code.

Limits worth knowing: the body is buffered (Envoy answers 413 past its buffer limit), and a
compressed or otherwise encoded body is searched as sent.
"""

from __future__ import annotations

from collections.abc import Iterable

from webhook.model.hosts import is_wildcard, normalize_host, wildcard_suffix

REFUSAL = "request refused by egressguard: the body matches a pattern blocked for {name}"


def lua_string(value: str) -> str:
    """A double-quoted Lua literal for ``value``'s UTF-8 bytes, safe for any content."""
    out = []
    for byte in value.encode("utf-8"):
        char = chr(byte)
        if 0x20 <= byte < 0x7F and char not in '"\\':
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def lua_source(*, destination: str, hosts: Iterable[str], patterns: Iterable[str]) -> str:
    """The filter for one destination: its hosts (names or wildcards) and patterns."""
    names = sorted({normalize_host(h) for h in hosts if not is_wildcard(normalize_host(h))})
    suffixes = sorted(
        {wildcard_suffix(normalize_host(h)) for h in hosts if is_wildcard(normalize_host(h))}
    )
    lines = [
        f"-- egressguard DLP for destination {destination}: a request to its hosts whose body",
        "-- contains a blocked pattern is refused with 400 before it leaves the cluster, whatever",
        "-- the method (POST, PUT, PATCH, and a GET or DELETE that carries a body too).",
        "local exact_hosts = {",
        *(f"  [{lua_string(name)}] = true," for name in names),
        "}",
        "local host_suffixes = {",
        *(f"  {lua_string(suffix)}," for suffix in suffixes),
        "}",
        "local blocked = {",
        *(f"  {lua_string(pattern)}," for pattern in patterns),
        "}",
        "",
        "local function guarded(authority)",
        "  if authority == nil then",
        "    return false",
        "  end",
        "  local host = string.lower(authority)",
        '  host = string.gsub(host, ":%d+$", "")',
        '  host = string.gsub(host, "%.$", "")',
        "  if exact_hosts[host] then",
        "    return true",
        "  end",
        "  for _, suffix in ipairs(host_suffixes) do",
        "    if #host > #suffix and string.sub(host, -#suffix) == suffix then",
        "      return true",
        "    end",
        "  end",
        "  return false",
        "end",
        "",
        "function envoy_on_request(request_handle)",
        "  local headers = request_handle:headers()",
        '  if not guarded(headers:get(":authority")) then',
        "    return",
        "  end",
        "  local body = request_handle:body()",
        "  if body == nil then",
        "    return",
        "  end",
        "  local text = body:getBytes(0, body:length())",
        "  for _, pattern in ipairs(blocked) do",
        "    if string.find(text, pattern, 1, true) then",
        "      request_handle:respond(",
        '        {[":status"] = "400", ["content-type"] = "text/plain"},',
        f"        {lua_string(REFUSAL.format(name=destination))}",
        "      )",
        "      return",
        "    end",
        "  end",
        "end",
    ]
    return "\n".join(lines) + "\n"
