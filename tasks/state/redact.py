"""Secrets never leave the process except into the configuration backups (0600): journal,
events, log, report, transcripts, notifications and the terminal all pass what they write
through `redact`.

What it hides: credentials inside URLs (an FTP package such as ftp://user:secret@host/junos.tgz),
and the secrets of a Junos configuration: `$9$`, `$8$`, `$6$`, `$5$` and `$1$` strings
(encrypted or hashed passwords and keys), pre-shared keys, authentication keys, RADIUS and
TACACS+ secrets, SNMP communities. A word after "community" is hidden wherever it appears (a
BGP community too): hiding too much is the safe side."""

from __future__ import annotations

import logging
import re

_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"<>]+):[^/\s@'\"<>]+@")
_JUNOS_HASH = re.compile(r"\$[98651]\$[^\s\"';<>&]+")
_JUNOS_KEYWORDS = re.compile(
    r"\b(pre-shared-key (?:ascii-text|hexadecimal)|authentication-key|secret|community)"
    r"(\s+)(\"[^\"]*\"|&quot;.*?&quot;|[^\s;{}\"<>&]+)"
)


def redact(text: str) -> str:
    """'ftp://user:secret@host/p' -> 'ftp://user:****@host/p'; '$9$abc' -> '$9$****';
    'pre-shared-key ascii-text "x"' -> 'pre-shared-key ascii-text ****'."""
    text = _URL_CREDENTIALS.sub(r"\1:****@", text)
    text = _JUNOS_HASH.sub(lambda m: m.group(0)[:3] + "****", text)
    return _JUNOS_KEYWORDS.sub(r"\1\2****", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
