"""The proxy.istio.io/config reader: what it reads, and what it refuses to guess about.

These were the tests of a line reader for the top-level keys; they now read the same texts
through :func:`read_proxy_config` (JSON, else the strict YAML reader) and check its keys.
"""

from __future__ import annotations

import pytest

from webhook.engine.proxy_override import UnreadableConfig, read_proxy_config


def top_level_keys(text: str) -> list[str]:
    return list(read_proxy_config(text))


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("", []),
        ("# only a comment\n", []),
        ("concurrency: 2\n", ["concurrency"]),
        ("concurrency: 2 # two workers\r\ndrainDuration: 5s", ["concurrency", "drainDuration"]),
        (
            "tracing:\n  sampling: 10\n  zipkin:\n    address: z:9411\nconcurrency: 1\n",
            ["tracing", "concurrency"],
        ),
        ("tracing: # nested below\n  sampling: 1\n", ["tracing"]),
        (
            "proxyStatsMatcher: |\n  anything: here\n  discoveryAddress: is text\n",
            ["proxyStatsMatcher"],
        ),
        ("tracing: {sampling: 1}\n", ["tracing"]),
        ('{"concurrency": 2, "tracing": {"sampling": 1}}', ["concurrency", "tracing"]),
        ('  {"concurrency": 2}  ', ["concurrency"]),
        # spellings every YAML reader reads alike: a quoted key, a space before the colon,
        # a document marker, an indented document; the key is then judged by name
        ('"discoveryAddress": x', ["discoveryAddress"]),
        ("'discoveryAddress': x", ["discoveryAddress"]),
        ("discoveryAddress : x", ["discoveryAddress"]),
        ("--- \nconcurrency: 2", ["concurrency"]),
        ("  concurrency: 2", ["concurrency"]),
    ],
    ids=repr,
)
def test_reads_the_top_level_keys(text: str, keys: list[str]) -> None:
    assert top_level_keys(text) == keys


@pytest.mark.parametrize(
    "text",
    [
        "{concurrency: 2, discoveryAddress: x}",  # a YAML flow mapping, not JSON
        '{"concurrency": 2',
        "[1, 2]",
        '{"a": [[[[' * 2000,
        "<<: {discoveryAddress: x}",
        "<<: *defaults",
        "? discoveryAddress\n: x",
        "concurrency:2",
        "%YAML 1.1\n---\nconcurrency: 2",
        "- concurrency: 2",
        '{"a": 1, "a": 2}',  # readers disagree on which copy wins
        "concurrency: 1\nconcurrency: 2\n",
        'tracing: "x\ndiscoveryAddress: y"\n',  # a quoted value over several lines
        "holdApplicationUntilProxyStarts: yes",  # a boolean in YAML 1.1, text in 1.2
        "concurrency: 2\n  discoveryAddress: x",
        "concurrency: 2\tdiscoveryAddress: x",
        "concurrency: 2\u2028discoveryAddress: x",
        "concurrency: 2\x85discoveryAddress: x",
        "\ufeffconcurrency: 2",
        "&anchor concurrency: 2",
        "!!str concurrency: 2",
    ],
    ids=repr,
)
def test_refuses_shapes_it_cannot_read_with_certainty(text: str) -> None:
    with pytest.raises(UnreadableConfig):
        top_level_keys(text)


def test_json_escapes_are_decoded_before_keys_are_compared() -> None:
    assert top_level_keys('{"\\u0064iscoveryAddress": "x"}') == ["discoveryAddress"]
