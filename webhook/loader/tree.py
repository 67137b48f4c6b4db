"""Finding and reading the files of a rules repository, and refusing the ones out of place.

A file in the wrong place is a rule that silently does nothing (a grant one folder too
shallow, ``github.yml`` beside ``github.yaml``), so anything that is not part of the layout
is an error that says where it belongs. ``README*`` files and dotfiles (``.github/``,
``.gitkeep``, the ``..data`` links of a mounted ConfigMap) are ignored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from webhook.loader.names import dns_label_problem, dns_subdomain_problem
from webhook.loader.problems import Problems

CONFIG_FILE = "config.yaml"
DESTINATIONS, EXCEPTIONS, SERVICES = "destinations", "exceptions", "services"
GRANT_SUFFIX = ".rule"
LAYOUT = (
    "a rules repository holds config.yaml, destinations/<name>.yaml, exceptions/<name>.yaml "
    "and services/<namespace>/<serviceaccount>/<host>:<port>.rule"
)


@dataclass(frozen=True, slots=True)
class RuleFile:
    rel: str  # relative to the repository root, '/'-separated
    data: bytes

    @property
    def stem(self) -> str:
        return self.rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]


@dataclass(frozen=True, slots=True)
class GrantFile:
    rel: str
    namespace: str
    service_account: str
    data: bytes

    @property
    def name(self) -> str:
        return self.rel.rpartition("/")[2]


@dataclass(frozen=True, slots=True)
class GrantFolder:
    """``services/<namespace>/<serviceaccount>/``: its grant files are read as they are
    loaded, not all at once."""

    path: str  # on disk
    rel: str
    namespace: str
    service_account: str


class RepositoryFiles:
    """The files of a repository: config, destinations and exceptions read whole, and the
    grants read one at a time by :meth:`grants` (a repository holds 100,000).

    Every file is read in the order of its path, so the revision is hashed as they are
    read, with no list of every file's path and bytes."""

    def __init__(self, reader: _Reader) -> None:
        self._reader = reader
        self.config: RuleFile | None = None
        self.destinations: list[RuleFile] = []
        self.exceptions: list[RuleFile] = []
        self.grant_folders: list[GrantFolder] = []
        self._digest = hashlib.sha256()
        self._grants_read = False

    def hash(self, rel: str, data: bytes) -> None:
        self._digest.update(rel.encode())
        self._digest.update(b"\0%d\0" % len(data))
        self._digest.update(data)

    def grants(self) -> Iterator[GrantFile]:
        """Each grant file in turn, in the order of their paths; its bytes are only held
        while the caller holds it. Files out of place are reported as they are reached."""
        for folder in self.grant_folders:
            yield from self._reader.grant_files(folder, self)
        self._grants_read = True

    def revision(self) -> str:
        """A short hash of every rules file's path and bytes: equal files, equal revision.
        Known once :meth:`grants` has been read to the end."""
        if not self._grants_read and self.grant_folders:
            raise RuntimeError("the revision is known once every grant file has been read")
        return self._digest.hexdigest()[:12]


def is_ignored(name: str) -> bool:
    return name.startswith(".") or name.startswith("README")


def _path_order(entry: os.DirEntry[str]) -> str:
    # A folder sorts as its name and "/", as the paths under it do: walking each folder in
    # this order reaches the files in the order of their whole paths ("a-b/x" before "a/x").
    return entry.name + "/" if entry.is_dir() else entry.name


def _entries(directory: str) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as scan:
        return sorted((e for e in scan if not is_ignored(e.name)), key=_path_order)


# A rules file is a few lines; anything this large is a mistake (or an attack on CI).
MAX_FILE_BYTES = 1 << 20


def _read(path: str) -> bytes | None:
    """The file's bytes, or ``None`` when it is larger than :data:`MAX_FILE_BYTES`.

    Unbuffered, asking for the size the file has: a buffer of the largest size for each of
    100,000 small files leaves the heap fragmented long after loading."""
    with open(path, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        data = handle.read(min(size, MAX_FILE_BYTES) + 1)
        if len(data) > size:  # it grew since: read on, within the limit
            data += handle.read(MAX_FILE_BYTES + 1 - len(data))
    return None if len(data) > MAX_FILE_BYTES else data


def _grant_name_hint(name: str) -> str:
    """What a file beside the grants should be called, if it is meant as one."""
    host, colon, port = name.rpartition(":")
    if colon and host:
        digits = port.split(".", 1)[0]
        return f"a grant file ends in {GRANT_SUFFIX}: rename to {host}:{digits}{GRANT_SUFFIX}"
    return (
        f"unexpected file; a service account's folder holds <host>:<port>{GRANT_SUFFIX} files only"
    )


class _Reader:
    """Reads files and folders, reporting what cannot be read or is out of place."""

    def __init__(self, show: Callable[[str], str], problems: Problems) -> None:
        self.show = show
        self.problems = problems

    def stray(self, rel: str, message: str) -> None:
        self.problems.error(self.show(rel), 1, message)

    def read(self, entry: os.DirEntry[str], rel: str) -> bytes | None:
        try:
            data = _read(entry.path)
        except OSError as error:
            self.stray(rel, f"cannot read the file: {error.strerror}")
            return None
        if data is None:
            self.stray(
                rel, f"the file is larger than {MAX_FILE_BYTES} bytes; rules files are small"
            )
        return data

    def entries(self, directory: str, rel: str) -> list[os.DirEntry[str]]:
        try:
            return _entries(directory)
        except OSError as error:
            self.stray(rel, f"cannot read the folder: {error.strerror}")
            return []

    def grant_files(self, folder: GrantFolder, files: RepositoryFiles) -> Iterator[GrantFile]:
        for entry in self.entries(folder.path, folder.rel):
            file_rel = f"{folder.rel}/{entry.name}"
            if entry.is_dir():
                self.stray(
                    file_rel,
                    "unexpected folder; a service account's folder holds "
                    f"<host>:<port>{GRANT_SUFFIX} files only",
                )
            elif not entry.name.endswith(GRANT_SUFFIX):
                self.stray(file_rel, _grant_name_hint(entry.name))
            else:
                data = self.read(entry, file_rel)
                if data is not None:
                    files.hash(file_rel, data)
                    yield GrantFile(file_rel, folder.namespace, folder.service_account, data)


class _Scanner(_Reader):
    def __init__(self, root: str, show: Callable[[str], str], problems: Problems) -> None:
        super().__init__(show, problems)
        self.root = root
        # Reads the grants later, without holding the scanner (or making a cycle).
        self.files = RepositoryFiles(_Reader(show, problems))

    def scan(self) -> RepositoryFiles:
        for entry in self.entries(self.root, ""):
            name = entry.name
            if entry.is_dir():
                if name in (DESTINATIONS, EXCEPTIONS):
                    self.documents(entry, name)
                elif name == SERVICES:
                    self.services(entry)
                else:
                    self.stray(name, f"unexpected folder {name}/; {LAYOUT}")
            elif name == CONFIG_FILE:
                data = self.read(entry, name)
                if data is not None:
                    self.files.hash(name, data)
                    self.files.config = RuleFile(name, data)
            elif name in ("config.yml", "config.json"):
                self.stray(name, f"the Config is read from {CONFIG_FILE}; rename {name}")
            else:
                self.stray(name, f"unexpected file; {LAYOUT}")
        return self.files

    def documents(self, folder: os.DirEntry[str], kind: str) -> None:
        target = self.files.destinations if kind == DESTINATIONS else self.files.exceptions
        for entry in self.entries(folder.path, kind):
            rel = f"{kind}/{entry.name}"
            if entry.is_dir():
                self.stray(rel, f"unexpected folder; {kind}/ holds <name>.yaml files only")
            elif entry.name.endswith(".yaml"):
                data = self.read(entry, rel)
                if data is not None:
                    self.files.hash(rel, data)
                    target.append(RuleFile(rel, data))
            elif entry.name.endswith(".yml"):
                self.stray(rel, f"rules files end in .yaml: rename to {entry.name[:-4]}.yaml")
            else:
                self.stray(rel, f"unexpected file; {kind}/ holds <name>.yaml files only")

    def services(self, folder: os.DirEntry[str]) -> None:
        for namespace in self.entries(folder.path, SERVICES):
            rel = f"{SERVICES}/{namespace.name}"
            if not namespace.is_dir():
                self.stray(
                    rel,
                    f"a grant lives in {SERVICES}/<namespace>/<serviceaccount>/"
                    f"<host>:<port>{GRANT_SUFFIX}; move it into its folders",
                )
                continue
            problem = dns_label_problem(namespace.name, what="namespace")
            if problem is not None:
                self.stray(rel, f"{problem}; rename the folder")
                continue
            for account in self.entries(namespace.path, rel):
                self.service_account(namespace.name, account)

    def service_account(self, namespace: str, folder: os.DirEntry[str]) -> None:
        rel = f"{SERVICES}/{namespace}/{folder.name}"
        if not folder.is_dir():
            self.stray(
                rel,
                f"a grant lives in a service account's folder: move it to "
                f"{SERVICES}/{namespace}/<serviceaccount>/{folder.name}",
            )
            return
        problem = dns_subdomain_problem(folder.name, what="service account name")
        if problem is not None:
            self.stray(rel, f"{problem}; rename the folder")
            return
        self.files.grant_folders.append(GrantFolder(folder.path, rel, namespace, folder.name))


def scan_repository(
    root: str, *, show: Callable[[str], str], problems: Problems
) -> RepositoryFiles:
    """Reads the rules files under ``root`` (the grants as :meth:`RepositoryFiles.grants` is
    read); reports files out of place to ``problems``."""
    return _Scanner(root, show, problems).scan()
