"""Import inputs: files, folders and .zip archives as a stable, ordered list of named sources.

The order is part of the contract: an import job records how many sources it has finished
(``import_jobs.files_done``) in the same transaction as each file's charts, and a resumed job
skips exactly that many — so listing the same inputs twice must give the same order (sorted).

- A folder contributes its ``*.json`` and ``*.zip`` files, recursively, hidden files excluded;
  other files (``SOURCES.md``, ``.csv``) are not inputs.
- A ``.zip`` contributes its ``*.json`` members, read one at a time and never extracted to disk
  (no path traversal, no disk-filling); a member larger than ``MAX_MEMBER_BYTES`` or a nested
  archive is reported as a bad file, not read.
- Names are for people: ``folder/sub/file.json``, ``archive.zip/member.json``. They are never
  parsed for patient data (quirk 6).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final

MAX_MEMBER_BYTES: Final = 256 * 1024 * 1024
MAX_ARCHIVE_MEMBERS: Final = 100_000
INPUT_SUFFIXES: Final = (".json", ".zip")


class SourceError(Exception):
    """A source that cannot be read; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Source:
    name: str
    size: int | None
    reader: Callable[[], bytes] | None
    problem: str | None = None

    def read(self) -> bytes:
        if self.problem is not None or self.reader is None:
            raise SourceError(self.problem or "cannot be read")
        return self.reader()


def _file_reader(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot be read ({exc.strerror or exc})") from None

    return read


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with archive.open(info) as fh:
                data = fh.read(MAX_MEMBER_BYTES + 1)
        except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:
            raise SourceError(f"cannot be read from the archive ({exc})") from None
        if len(data) > MAX_MEMBER_BYTES:
            raise SourceError(f"larger than {MAX_MEMBER_BYTES // 2**20} MiB uncompressed")
        return data

    return read


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


class SourceSet:
    """The ordered sources of some paths; a context manager that keeps archives open while used."""

    def __init__(self, paths: Iterable[Path | str], *, label: Callable[[Path], str] | None = None) -> None:
        self._stack = ExitStack()
        self._label = label
        self.sources: list[Source] = []
        try:
            for raw in paths:
                self._add_path(Path(raw))
        except BaseException:
            self._stack.close()
            raise

    def __enter__(self) -> SourceSet:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def __len__(self) -> int:
        return len(self.sources)

    def __iter__(self) -> Iterator[Source]:
        return iter(self.sources)

    def _name(self, path: Path) -> str:
        return self._label(path) if self._label else path.name

    def _add_path(self, path: Path) -> None:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not _hidden(rel) and child.suffix.lower() in INPUT_SUFFIXES:
                    self._add_file(child, f"{self._name(path)}/{rel.as_posix()}")
        elif path.is_file():
            if path.suffix.lower() not in INPUT_SUFFIXES:
                self.sources.append(Source(self._name(path), None, None, "not a .json or .zip file"))
            else:
                self._add_file(path, self._name(path))
        else:
            self.sources.append(Source(self._name(path), None, None, "no such file or folder"))

    def _add_file(self, path: Path, name: str) -> None:
        if path.suffix.lower() == ".json":
            self.sources.append(Source(name, path.stat().st_size, _file_reader(path)))
            return
        try:
            archive = self._stack.enter_context(zipfile.ZipFile(path))
        except (zipfile.BadZipFile, OSError) as exc:
            self.sources.append(Source(name, None, None, f"not a readable .zip archive ({exc})"))
            return
        members = [i for i in archive.infolist() if not i.is_dir() and not _hidden(Path(i.filename))]
        if len(members) > MAX_ARCHIVE_MEMBERS:
            self.sources.append(Source(name, None, None, f"more than {MAX_ARCHIVE_MEMBERS} files in the archive"))
            return
        for info in sorted(members, key=lambda i: i.filename):
            member_name = f"{name}/{info.filename}"
            suffix = Path(info.filename).suffix.lower()
            if suffix == ".zip":
                self.sources.append(Source(member_name, info.file_size, None, "nested archives are not imported"))
            elif suffix == ".json":
                if info.file_size > MAX_MEMBER_BYTES:
                    problem = f"larger than {MAX_MEMBER_BYTES // 2**20} MiB uncompressed"
                    self.sources.append(Source(member_name, info.file_size, None, problem))
                else:
                    self.sources.append(Source(member_name, info.file_size, _member_reader(archive, info)))
