"""Hosts whose content anyone can control: a grant to one is a grant to an attacker's server.

Monzo's lesson from building egress gateways: some destinations "allow a certain degree of
attacker control — anyone can host something on GitHub", so they must go only to the
services that need them, never to everyone. A compromised pod that reaches such a host can
fetch an attacker's tools from it, take commands from it, or push data out to it, through
a gateway that logs nothing suspicious: the name is a trusted one.

The catalog is kept small and explained: each entry is a registrable domain (every name
under it matches) or, for storage whose names embed a region, a pattern, with the category
a reviewer reads. It is used by the review's risk flags (``egressguard diff``) and by
``egressguard learn`` for its proposals.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from webhook.model.hosts import is_wildcard, normalize_host, wildcard_suffix


class Control(enum.StrEnum):
    CODE_HOSTING = "code hosting"
    PASTE = "paste site"
    OBJECT_STORAGE = "object storage"
    URL_SHORTENER = "URL shortener"
    FILE_SHARING = "file sharing"
    TUNNEL = "tunnel or request catcher"


WHY = {
    Control.CODE_HOSTING: "anyone can publish repositories, raw files and releases there",
    Control.PASTE: "anyone can post text there, and read it back without an account",
    Control.OBJECT_STORAGE: "anyone can create a bucket there and read or write it",
    Control.URL_SHORTENER: "it redirects to whatever address its owner chose",
    Control.FILE_SHARING: "anyone can upload files there and share them by link",
    Control.TUNNEL: "it forwards traffic to, or records it for, whoever set it up",
}

_DOMAINS: dict[Control, tuple[str, ...]] = {
    Control.CODE_HOSTING: (
        "github.com", "githubusercontent.com", "github.io", "ghcr.io", "gitlab.com",
        "gitlab.io", "bitbucket.org", "codeberg.org", "sourceforge.net", "sr.ht",
        "gitee.com", "huggingface.co",
    ),
    Control.PASTE: (
        "pastebin.com", "paste.ee", "hastebin.com", "dpaste.org", "dpaste.com", "rentry.co",
        "paste.rs", "termbin.com", "ix.io", "controlc.com", "justpaste.it", "ghostbin.site",
        "pastes.io", "privatebin.net",
    ),
    Control.OBJECT_STORAGE: (
        "storage.googleapis.com", "storage.cloud.google.com", "blob.core.windows.net",
        "r2.dev", "r2.cloudflarestorage.com", "digitaloceanspaces.com", "backblazeb2.com",
        "wasabisys.com", "objectstorage.oraclecloud.com", "aliyuncs.com",
    ),
    Control.URL_SHORTENER: (
        "bit.ly", "tinyurl.com", "t.co", "goo.gl", "is.gd", "ow.ly", "rebrand.ly", "cutt.ly",
        "shorturl.at", "tiny.cc", "buff.ly",
    ),
    Control.FILE_SHARING: (
        "dropbox.com", "dropboxusercontent.com", "drive.google.com", "docs.google.com",
        "transfer.sh", "wetransfer.com", "we.tl", "mega.nz", "mega.io", "file.io", "0x0.st",
        "sendspace.com", "mediafire.com", "onedrive.live.com", "1drv.ms", "box.com",
        "gofile.io", "catbox.moe",
    ),
    Control.TUNNEL: (
        "ngrok.io", "ngrok-free.app", "ngrok.app", "trycloudflare.com", "webhook.site",
        "requestbin.net", "pipedream.net", "loca.lt", "serveo.net", "interact.sh",
        "oast.fun", "burpcollaborator.net",
    ),
}

# S3 names carry the region and the bucket: s3.amazonaws.com, s3.eu-west-1.amazonaws.com,
# bucket.s3.dualstack.us-east-1.amazonaws.com, s3-us-west-2.amazonaws.com (legacy).
_S3_EXAMPLE = "s3.amazonaws.com"


def _is_s3(name: str) -> bool:
    for suffix in (".amazonaws.com", ".amazonaws.com.cn"):
        if name.endswith(suffix):
            labels = name[: -len(suffix)].split(".")
            return any(label == "s3" or label.startswith("s3-") for label in labels)
    return False


@dataclass(frozen=True, slots=True)
class ControlledHost:
    """Why a host pattern gives an attacker control: the catalog entry it falls under."""

    host: str  # the host pattern judged
    domain: str  # the catalog entry
    control: Control
    covers: bool = False  # a wildcard covering the entry, rather than a name under it

    @property
    def reason(self) -> str:
        """``code hosting: anyone can publish repositories, raw files and releases there``."""
        return f"{self.control.value}: {WHY[self.control]}"


def _under(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


def attacker_control(pattern: str) -> ControlledHost | None:
    """The catalog entry ``pattern`` (a host or ``*.suffix``) reaches, if any.

    A name is flagged when it is an entry or below one (``raw.githubusercontent.com``); a
    wildcard when its names are below an entry, or when an entry is below it
    (``*.amazonaws.com`` covers every S3 bucket).
    """
    host = normalize_host(pattern)
    if host == "*":
        return ControlledHost(host, _DOMAINS[Control.CODE_HOSTING][0], Control.CODE_HOSTING,
                              covers=True)
    name = wildcard_suffix(host).lstrip(".") if is_wildcard(host) else host
    for control, domains in _DOMAINS.items():
        for domain in domains:
            if _under(name, domain):
                return ControlledHost(host, domain, control)
            if is_wildcard(host) and _under(domain, name):
                return ControlledHost(host, domain, control, covers=True)
    if _is_s3(name):
        return ControlledHost(host, _S3_EXAMPLE, Control.OBJECT_STORAGE)
    if is_wildcard(host) and _under(_S3_EXAMPLE, name):
        return ControlledHost(host, _S3_EXAMPLE, Control.OBJECT_STORAGE, covers=True)
    return None
