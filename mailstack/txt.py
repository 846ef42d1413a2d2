"""TXT record text: splitting into character-strings and RFC 1035 presentation format.

A TXT character-string holds at most 255 octets; longer values (a 2048-bit DKIM key) are
several strings that DKIM and SPF readers join with no separator. OVH stores and returns TXT
values quoted and split this way, so sending them in this form shows no false diff.
"""

from __future__ import annotations

MAX_STRING = 255


def split(value: str, size: int = MAX_STRING) -> list[str]:
    """Split an ASCII value into chunks of at most `size` octets; "" gives [""]."""
    if not value.isascii():
        raise ValueError("TXT values must be ASCII")
    if not 1 <= size <= MAX_STRING:
        raise ValueError(f"chunk size must be between 1 and {MAX_STRING}")
    if not value:
        return [""]
    return [value[i : i + size] for i in range(0, len(value), size)]


def quote(chunk: str) -> str:
    """One character-string in presentation format: quoted, with `"` and `\\` escaped."""
    return '"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"'


def presentation(value: str) -> str:
    """The value as TXT rdata: `"first 255 octets" "rest"`."""
    return " ".join(quote(chunk) for chunk in split(value))


def parse(rdata: str) -> list[str]:
    """The character-strings of TXT rdata in presentation format (inverse of `presentation`)."""
    strings: list[str] = []
    i = 0
    n = len(rdata)
    while i < n:
        if rdata[i] == " ":
            i += 1
            continue
        if rdata[i] != '"':
            raise ValueError(f"TXT rdata must be quoted strings: {rdata!r}")
        i += 1
        out: list[str] = []
        while True:
            if i >= n:
                raise ValueError(f"unterminated string in TXT rdata: {rdata!r}")
            c = rdata[i]
            if c == "\\":
                if i + 1 >= n:
                    raise ValueError(f"dangling escape in TXT rdata: {rdata!r}")
                nxt = rdata[i + 1]
                if nxt.isdigit():
                    out.append(chr(int(rdata[i + 1 : i + 4])))
                    i += 4
                else:
                    out.append(nxt)
                    i += 2
                continue
            if c == '"':
                i += 1
                break
            out.append(c)
            i += 1
        strings.append("".join(out))
    return strings


def joined(rdata: str) -> str:
    """The value that SPF and DKIM readers see: the strings joined with no separator."""
    return "".join(parse(rdata))
