"""Connection URLs as written in `.env` files: read as their author meant, written encoded.

Examples are often written by hand with the password as it is: `postgres:Yaksh@2610@host`
(an '@'), `postgres:p#ss@host` (a '#', which URL parsers take for the start of a fragment, so
Node's `new URL()` and Prisma cut the URL there). `parse` finds the authority the author meant:
the host is what follows the first '@' after which a `host[:port]` runs to a '/', '?' or the
end; user and password are percent-decoded. `build` writes a URL back with user and password
percent-encoded, as every URL parser reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from lomash_tasks import masking

_HOSTPORT = re.compile(
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]*)(?::(?P<port>\d*))?"
    r"(?=[/?]|\Z)"
)


@dataclass(frozen=True)
class Url:
    scheme: str
    user: str  # decoded
    password: str  # decoded
    host: str  # without brackets
    port: int | None
    path: str  # "/database", "/0", or ""
    query: str  # without '?'
    fragment: str  # without '#'
    has_userinfo: bool = False
    has_password: bool = False

    @property
    def database(self) -> str:
        return unquote(self.path.lstrip("/"))


def parse(value: str) -> Url | None:
    """The URL as its author meant it, or None when it is no `scheme://host...` URL."""
    if "://" not in value:
        return None
    scheme, rest = value.split("://", 1)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return None
    userinfo, hostpart = None, rest
    try:
        plain = urlsplit(value)
        plain.port  # noqa: B018 - raises on a malformed port
        sane = (
            "@" not in plain.fragment
            and "@" not in plain.path
            and "@" not in plain.query.split("=", 1)[0]
        )
    except ValueError:
        sane = False
    if sane:  # the usual case: the standard reading (the last '@' of the authority)
        end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))
        if "@" in rest[:end]:
            userinfo, hostpart = rest[:end].rsplit("@", 1)[0], rest[rest.rfind("@", 0, end) + 1 :]
    else:  # an unencoded '#', '/' or '?' in the password: the first '@' before a host
        for at in [i for i, c in enumerate(rest) if c == "@"]:
            host = _HOSTPORT.match(rest, at + 1)
            if host and host.group("host"):
                userinfo, hostpart = rest[:at], rest[at + 1 :]
                break
        else:
            return None
    found = _HOSTPORT.match(hostpart)
    if found is None:
        return None
    tail = hostpart[found.end() :]
    path, _, query = tail.partition("?")
    query, _, fragment = query.partition("#")
    if "#" in path:
        path, _, fragment = path.partition("#")
    user = password = ""
    has_password = False
    if userinfo is not None:
        user, has_password, password = (
            userinfo.partition(":")[0],
            ":" in userinfo,
            userinfo.partition(":")[2],
        )
    port = found.group("port")
    return Url(
        scheme,
        unquote(user),
        unquote(password),
        found.group("host").strip("[]"),
        int(port) if port else None,
        path,
        query,
        fragment,
        has_userinfo=userinfo is not None,
        has_password=bool(has_password),
    )


def build(
    scheme: str,
    user: str,
    password: str | None,
    host: str,
    port: int | None,
    path: str = "",
    query: str = "",
    fragment: str = "",
) -> str:
    """`scheme://user:password@host:port/path?query#fragment`, user and password encoded
    (`password=None`: no ':' part; `user == password == ''` with None: no userinfo)."""
    auth = ""
    if user or password is not None:
        auth = quote(user, safe="") + ("" if password is None else ":" + quote(password, safe=""))
        auth += "@"
    where = f"[{host}]" if ":" in host else host
    if port is not None:
        where += f":{port}"
    return (
        f"{scheme}://{auth}{where}{path}"
        + (f"?{query}" if query else "")
        + (f"#{fragment}" if fragment else "")
    )


def mask(value: str) -> str:
    """The URL with its password masked (one holding '@', '#' or ':' included)."""
    url = parse(value)
    if url is None or not url.password:
        return value
    return build(
        url.scheme, url.user, "", url.host, url.port, url.path, url.query, url.fragment
    ).replace(":@", f":{masking.MASK}@", 1)
