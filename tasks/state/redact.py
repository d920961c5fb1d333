"""Credentials inside URLs (an FTP package such as ftp://user:secret@host/junos.tgz) never
leave the process: journal, events, log, report, transcripts and the terminal all pass what
they write through `redact`."""

from __future__ import annotations

import logging
import re

_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"<>]+):[^/\s@'\"<>]+@")


def redact(text: str) -> str:
    """'ftp://user:secret@host/p' -> 'ftp://user:****@host/p'."""
    return _URL_CREDENTIALS.sub(r"\1:****@", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
