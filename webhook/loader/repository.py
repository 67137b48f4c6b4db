"""Loading a rules repository from disk into one :class:`Policy`, or every reason it fails.

Everything is read and checked first and the Policy is built last, from local values only:
a caller sees either a complete snapshot or a :class:`RulesError`, never a half-built
Policy, so a running webhook can keep its last good rules when a change does not load.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from webhook.loader.config import build_config, default_config
from webhook.loader.destinations import LoadedDestination, build_destination, check_unique_hosts
from webhook.loader.grants import build_grant
from webhook.loader.problems import Problem, Problems, RulesError, Severity, sort_problems
from webhook.loader.tree import CONFIG_FILE, RepositoryFiles, RuleFile, scan_repository
from webhook.loader.waivers import build_exception
from webhook.model.hosts import HostIndex
from webhook.model.rules import Config, Destination, Grant, Policy, PolicyException
from webhook.syntax.yamlstrict import LocatedDocument, YamlError, decode_text, parse_yaml


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A loaded Policy, with warnings about it.

    ``warnings`` are worth logging wherever the rules load (a reason cut short by a YAML
    comment, a non-canonical file name); ``notes`` are for whoever reviews a change
    (grants without a reason, wildcard destinations), shown by ``egressguard check``.
    """

    policy: Policy
    warnings: tuple[Problem, ...] = ()
    notes: tuple[Problem, ...] = ()


def display_root(path: str) -> str:
    """The repository path as the user wrote it, tidied: ``./rules/`` -> ``rules``."""
    shown = os.path.normpath(path)
    return "" if shown == "." else shown


def _single_document(
    file: RuleFile, *, kind: str, path: str, problems: Problems
) -> LocatedDocument | None:
    try:
        documents = parse_yaml(decode_text(file.data))
    except YamlError as error:
        problems.error(path, error.line, error.message)
        return None
    documents = [doc for doc in documents if doc.value is not None]
    if not documents:
        fix = "or delete it to use the defaults" if kind == "Config" else "or delete it"
        problems.error(path, 1, f"the file is empty; write one {kind} in it, {fix}")
        return None
    if len(documents) > 1:
        problems.error(
            path, documents[1].line, f"a file holds one {kind}; move this one to its own file"
        )
        return None
    return documents[0]


class _Loading:
    """One load: the files read, the problems found, the rules built so far."""

    def __init__(
        self, files: RepositoryFiles, *, show: Callable[[str], str], root: str,
        problems: Problems,
    ) -> None:
        self.files = files
        self.show = show
        # What every grant's path starts with (``show(rel) == root + rel``), one string
        # shared by all of them.
        self.root = root
        self.problems = problems
        self.grant_files_seen = False

    def config(self, own_namespace: str | None) -> Config | None:
        file = self.files.config
        if file is None:
            return default_config(own_namespace=own_namespace)
        path = self.show(CONFIG_FILE)
        doc = _single_document(file, kind="Config", path=path, problems=self.problems)
        if doc is None:
            return None
        return build_config(doc, path=path, own_namespace=own_namespace, problems=self.problems)

    def destinations(self, config: Config | None) -> tuple[list[LoadedDestination], list[str]]:
        """The destinations that load, and the files that do not."""
        loaded: list[LoadedDestination] = []
        failed: list[str] = []
        for file in self.files.destinations:
            path = self.show(file.rel)
            doc = _single_document(file, kind="Destination", path=path, problems=self.problems)
            item = None
            if doc is not None:
                item = build_destination(
                    doc, path=path, stem=file.stem, config=config, problems=self.problems
                )
            if item is None:
                failed.append(path)
            else:
                loaded.append(item)
        check_unique_hosts(loaded, problems=self.problems)
        return loaded, failed

    def grants(self, hosts: HostIndex[Destination] | None) -> list[Grant]:
        """The grants, each file read, checked and dropped in turn: only the grants stay."""
        grants: list[Grant] = []
        # Two files name the same grant only inside one service account's folder (names
        # differing in case or a trailing dot), and the scan lists a folder's files together.
        seen: dict[tuple[str, int], str] = {}
        folder: tuple[str, str] = ("", "")
        for file in self.files.grants():
            self.grant_files_seen = True
            if (file.namespace, file.service_account) != folder:
                folder = (file.namespace, file.service_account)
                seen.clear()
            path = self.show(file.rel)
            grant = build_grant(
                path=path,
                root=self.root,
                namespace=file.namespace,
                service_account=file.service_account,
                file_name=file.name,
                data=file.data,
                hosts=hosts,
                problems=self.problems,
            )
            if grant is None:
                continue
            key = (grant.host, grant.port)
            if key in seen:
                self.problems.error(
                    path, 1,
                    f"the same grant as {self.show(seen[key])}; delete one of the two files"
                )
                continue
            seen[key] = file.rel
            grants.append(grant)
        return grants

    def exceptions(self) -> list[PolicyException]:
        found: list[PolicyException] = []
        for file in self.files.exceptions:
            path = self.show(file.rel)
            doc = _single_document(file, kind="Exception", path=path, problems=self.problems)
            if doc is None:
                continue
            item = build_exception(doc, path=path, stem=file.stem, problems=self.problems)
            if item is not None:
                found.append(item)
        return found


def load_repository(
    path: str | os.PathLike[str], *, own_namespace: str | None = None
) -> LoadResult:
    """Reads the rules repository at ``path`` into a Policy.

    Raises :class:`RulesError` with every problem found (warnings included) when any is an
    error. ``own_namespace`` is the webhook's namespace, exempt by default.
    """
    root = os.fspath(path)
    shown = display_root(root)

    def show(rel: str) -> str:
        if not rel:
            return shown or "."
        return f"{shown}/{rel}" if shown else rel

    if not os.path.isdir(root):
        raise RulesError([Problem(root, 1, "no such directory: expected a rules repository")])
    problems = Problems()
    files = scan_repository(root, show=show, problems=problems)
    loading = _Loading(files, show=show, root=f"{shown}/" if shown else "", problems=problems)
    config = loading.config(own_namespace)
    loaded, failed = loading.destinations(config)
    hosts: HostIndex[Destination] | None = None
    if not failed:
        hosts = HostIndex()
        for item in loaded:
            for host in item.destination.hosts:
                hosts.add(host, item.destination)  # a repeated host keeps its first owner
    grants = loading.grants(hosts)
    if failed and loading.grant_files_seen:
        # Checking grants against a partial set of destinations would bury the one real
        # error under one per grant of the broken destination.
        problems.warning(
            failed[0],
            1,
            "grants were not checked against the destinations, as this file does not load; "
            "fix it first",
        )
    exceptions = loading.exceptions()
    if problems.has_errors or config is None:
        raise RulesError(problems.found)
    try:
        policy = Policy.build(
            config=config,
            destinations=tuple(item.destination for item in loaded),
            grants=tuple(grants),
            exceptions=tuple(exceptions),
            revision=files.revision(),
        )
    except ValueError as error:  # checked above with file and line; kept as a backstop
        raise RulesError([*problems.found, Problem(shown or ".", 1, str(error))]) from None
    warnings = [p for p in problems.found if p.severity is Severity.WARNING]
    return LoadResult(policy, sort_problems(warnings), sort_problems(problems.notes))
