"""Field paths: the same path however often it is built, and no key kept that a writer
could make large."""

from __future__ import annotations

from webhook.engine import fieldpath


def test_paths_read_as_before_whether_remembered_or_not() -> None:
    assert fieldpath.key("spec", "hosts") == "spec.hosts"
    assert fieldpath.key("", "spec") == "spec"
    assert fieldpath.key("metadata.labels", "a/b") == 'metadata.labels["a/b"]'
    long_name = "k" * (fieldpath.CACHED_NAME + 1)
    assert fieldpath.key("spec", long_name) == f"spec.{long_name}"


def test_only_short_keys_are_remembered() -> None:
    fieldpath._remembered.cache_clear()
    fieldpath.key("spec", "x" * 10_000)
    fieldpath.key("s" * 10_000, "x")
    assert fieldpath._remembered.cache_info().currsize == 0
    fieldpath.key("spec", "hosts")
    fieldpath.key("spec", "hosts")
    info = fieldpath._remembered.cache_info()
    assert (info.currsize, info.hits) == (1, 1)
