"""Print files for DVLA: a ZIP of letter PDFs per postage and service, at most 500 PDFs and 40 MB, under the print
day's folder, each with a JSON manifest beside it (reference §5.3).

    <YYYY-MM-DD>/NOTIFY.<YYYY-MM-DD>.<postage code>.<NNN>.<hash>.<service_id>.<organisation_id>.ZIP
    <YYYY-MM-DD>/NOTIFY.<YYYY-MM-DD>.<postage code>.<NNN>.<hash>.<service_id>.<organisation_id>.MANIFEST.JSON
    in-flight/<YYYY-MM-DD>/NOTIFY....ZIP      a marker while the file is being handed over (collate.py)

The postage code is the letter file name's (1, 2, ECONOMY, E, N); NNN numbers the day's files of one postage from
001 (a re-run continues after the files already there); the hash is the first 20 characters of the URL-safe base64
SHA-512 of the file's PDF keys joined, as the reference; a service with no organisation gets `NONE`. The same letters
in the same order always give the same name.

The ZIP stores the PDFs uncompressed (they are compressed already) under their file names without the folder, so
its size is known before it is written: the 40 MB limit is on the ZIP itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import uuid
import zipfile
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field

from notify_pipelines.core.vocabulary import POSTAGE_FILE_CODES
from notify_pipelines.printing.selection import LetterToPrint

MAX_LETTERS_PER_FILE = 500
MAX_FILE_BYTES = 40 * 1024 * 1024
IN_FLIGHT_PREFIX = "in-flight/"
MANIFEST_SUFFIX = ".MANIFEST.JSON"
NO_ORGANISATION = "NONE"
POSTAGE_FROM_CODE = {code: postage for postage, code in POSTAGE_FILE_CODES.items()}
SPOOL_BYTES = 8 * 1024 * 1024  # a ZIP stays in memory up to this size, then goes to a temporary file

# Sizes of the ZIP records zipfile writes for a stored entry with no extra field (APPNOTE 4.3.7, 4.3.12, 4.3.16).
_LOCAL_HEADER, _CENTRAL_HEADER, _END_RECORD = 30, 46, 22


def folder(day: dt.date) -> str:
    return f"{day.isoformat()}/"


def content_hash(pdf_keys: list[str]) -> str:
    return urlsafe_b64encode(hashlib.sha512("".join(pdf_keys).encode()).digest())[:20].decode()


def print_file_name(day: dt.date, postage: str, sequence: int, pdf_keys: list[str], service_id: uuid.UUID,
                    organisation_id: uuid.UUID | None) -> str:
    organisation = str(organisation_id) if organisation_id else NO_ORGANISATION
    return (f"NOTIFY.{day.isoformat()}.{POSTAGE_FILE_CODES[postage]}.{sequence:03d}.{content_hash(pdf_keys)}."
            f"{service_id}.{organisation}.ZIP")


@dataclass(frozen=True)
class PrintFileName:
    day: dt.date
    postage: str
    sequence: int
    hash: str
    service_id: str
    organisation_id: str

    @classmethod
    def parse(cls, key: str) -> "PrintFileName":
        """From a ZIP or manifest key (with or without its folder)."""
        name = key.rsplit("/", 1)[-1]
        parts = name.split(".")
        if len(parts) < 8 or parts[0] != "NOTIFY":
            raise ValueError(f"not a print file name: {key}")
        return cls(dt.date.fromisoformat(parts[1]), POSTAGE_FROM_CODE[parts[2]], int(parts[3]), parts[4], parts[5],
                   parts[6])


def zip_key(day: dt.date, name: str) -> str:
    return folder(day) + name


def manifest_key(zip_key_: str) -> str:
    return zip_key_[: -len(".ZIP")] + MANIFEST_SUFFIX


def zip_key_of_manifest(manifest_key_: str) -> str:
    return manifest_key_[: -len(MANIFEST_SUFFIX)] + ".ZIP"


def in_flight_key(zip_key_: str) -> str:
    return IN_FLIGHT_PREFIX + zip_key_


def zip_key_of_in_flight(marker: str) -> str:
    return marker[len(IN_FLIGHT_PREFIX):]


def arcname(pdf_key: str) -> str:
    return pdf_key.rsplit("/", 1)[-1]


def entry_bytes(pdf_key: str, size: int) -> int:
    """What one stored PDF adds to a ZIP: its local header, its data and its central directory record."""
    name = len(arcname(pdf_key).encode())
    return _LOCAL_HEADER + name + size + _CENTRAL_HEADER + name


@dataclass
class PrintFile:
    """One print file being filled: letters of one service and one postage, their PDFs in a ZIP being written."""

    day: dt.date
    postage: str
    service_id: uuid.UUID
    organisation_id: uuid.UUID | None
    max_letters: int = MAX_LETTERS_PER_FILE
    max_bytes: int = MAX_FILE_BYTES
    letters: list[LetterToPrint] = field(default_factory=list)
    pdf_keys: list[str] = field(default_factory=list)
    projected_bytes: int = _END_RECORD

    def __post_init__(self):
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self._zip = zipfile.ZipFile(self._spool, "w", compression=zipfile.ZIP_STORED, allowZip64=False)

    def fits(self, pdf_key: str, size: int) -> bool:
        """Whether one more PDF keeps the file within its limits (a lone PDF always fits: it goes alone)."""
        if not self.letters:
            return True
        return len(self.letters) < self.max_letters and self.projected_bytes + entry_bytes(pdf_key, size) <= self.max_bytes

    def add(self, letter: LetterToPrint, pdf_key: str, pdf: bytes) -> None:
        info = zipfile.ZipInfo(arcname(pdf_key), date_time=letter.created_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16
        self._zip.writestr(info, pdf)
        self.letters.append(letter)
        self.pdf_keys.append(pdf_key)
        self.projected_bytes += entry_bytes(pdf_key, len(pdf))

    @property
    def sheets(self) -> int:
        return sum(letter.sheets for letter in self.letters)

    def name(self, sequence: int) -> str:
        return print_file_name(self.day, self.postage, sequence, self.pdf_keys, self.service_id, self.organisation_id)

    def finish(self):
        """The finished ZIP, rewound, as a file object (the caller closes it with discard())."""
        self._zip.close()
        size = self._spool.tell()
        if size != self.projected_bytes:  # the limit is only as good as this arithmetic
            raise AssertionError(f"ZIP is {size} bytes, {self.projected_bytes} were projected")
        self._spool.seek(0)
        return self._spool

    def discard(self) -> None:
        self._spool.close()

    def manifest(self, name: str, sequence: int) -> dict:
        return {
            "print_file": name,
            "day": self.day.isoformat(),
            "postage": self.postage,
            "sequence": sequence,
            "service_id": str(self.service_id),
            "organisation_id": str(self.organisation_id) if self.organisation_id else None,
            "letter_count": len(self.letters),
            "sheet_count": self.sheets,
            "zip_bytes": self.projected_bytes,
            "letters": [
                {"id": str(letter.id), "reference": letter.reference, "sheets": letter.sheets,
                 "postage": letter.postage, "pdf": arcname(key)}
                for letter, key in zip(self.letters, self.pdf_keys)
            ],
        }


def manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest, indent=1).encode()


def read_manifest(body: bytes) -> dict:
    manifest = json.loads(body)
    if not isinstance(manifest, dict) or "letters" not in manifest:
        raise ValueError("not a print file manifest")
    return manifest
