"""Redis's glob-style matching (util.c stringmatchlen), for KEYS and *SCAN MATCH.

Not fnmatch: Redis negates a class with '^' (fnmatch uses '!'), lets '\\'
escape any character, and treats an unclosed '[' as a class running to the
end of the pattern. Matching is on bytes.
"""

from __future__ import annotations

_STAR, _QUESTION, _OPEN, _BACKSLASH = 0x2A, 0x3F, 0x5B, 0x5C


def glob_match(pattern: bytes, text: bytes, *, nocase: bool = False) -> bool:
    if nocase:
        pattern, text = pattern.lower(), text.lower()
    return _match(pattern, 0, text, 0)


def _match(pattern: bytes, p: int, text: bytes, t: int) -> bool:
    plen, tlen = len(pattern), len(text)
    while p < plen:
        c = pattern[p]
        if c == _STAR:
            while p + 1 < plen and pattern[p + 1] == _STAR:
                p += 1
            if p + 1 == plen:
                return True
            return any(_match(pattern, p + 1, text, start) for start in range(t, tlen + 1))
        if t >= tlen:
            return False
        if c == _QUESTION:
            t += 1
        elif c == _OPEN:
            p, matched = _match_class(pattern, p + 1, text[t])
            if not matched:
                return False
            t += 1
        else:
            if c == _BACKSLASH and p + 1 < plen:
                p += 1
                c = pattern[p]
            if c != text[t]:
                return False
            t += 1
        p += 1
    return t == tlen


def _match_class(pattern: bytes, p: int, char: int) -> tuple[int, bool]:
    """Match `char` against the class starting at p; returns (index of ']', matched)."""
    plen = len(pattern)
    negate = p < plen and pattern[p] == 0x5E  # '^'
    if negate:
        p += 1
    matched = False
    while p < plen:
        c = pattern[p]
        if c == _BACKSLASH and p + 1 < plen:
            p += 1
            matched |= pattern[p] == char
        elif c == 0x5D:  # ']'
            break
        elif p + 2 < plen and pattern[p + 1] == 0x2D:  # a range 'a-z'
            low, high = c, pattern[p + 2]
            if low > high:
                low, high = high, low
            matched |= low <= char <= high
            p += 2
        else:
            matched |= c == char
        p += 1
    if p >= plen:
        p = plen - 1  # an unclosed class runs to the end of the pattern
    return p, matched != negate
