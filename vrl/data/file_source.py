"""`JsonlSource` and `ParquetSource`: local files whose image fields are paths (or bytes).

Relative image paths are resolved against `image_root`, which defaults to the directory of
the data file. A bad line or row gives a `Skipped`; a missing file is a `MissingFileError`
at construction, before any work starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from vrl.errors import ConfigError, MissingFileError, VrlError

from .records import SKIP_BAD_ENCODING, SKIP_BAD_JSON, RecordConverter, check_answer_type, resolve_columns
from .schema import Sample, Skipped


class _FileSource:
    kind = ""

    def __init__(
        self,
        path: str,
        columns: Mapping[str, str] | None = None,
        image_root: str | None = None,
        answer_type: str = "text",
        num_samples: int | None = None,
        weight: float = 1.0,
        strip_boxed: bool = True,
        source_name: str | None = None,
    ):
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise MissingFileError(f"path: {self.kind} file not found: {self.path.resolve()}")
        if num_samples is not None and num_samples < 0:
            raise ConfigError(f"num_samples: {num_samples} is negative; use a count >= 0 or null for all")
        if weight < 0:
            raise ConfigError(f"weight: {weight} is negative; use a relative share >= 0")
        self.answer_type = check_answer_type(answer_type)
        self.num_samples, self.weight = num_samples, float(weight)
        self.image_root = Path(image_root).expanduser() if image_root is not None else self.path.parent
        if not self.image_root.is_dir():
            raise MissingFileError(
                f"image_root: {self.image_root.resolve()} is not a directory; fix the path"
            )
        self.name = source_name or f"{self.kind}:{self.path.stem}"
        self.columns = resolve_columns(columns, self._column_names())
        self.convert = RecordConverter(
            self.columns, self.image_root, self.answer_type, self.name, strip_boxed
        )

    def _column_names(self) -> list[str]:
        raise NotImplementedError

    def _records(self) -> Iterator[tuple[int, object]]:
        raise NotImplementedError

    def corpus(self) -> Iterator[str]:
        """Nothing beyond the records themselves (the tokenizer reads them from the dataset)."""
        return iter(())

    def iter_samples(self) -> Iterator[Sample | Skipped]:
        for count, (index, record) in enumerate(self._records()):
            if self.num_samples is not None and count >= self.num_samples:
                return
            if isinstance(record, Skipped):
                yield record
            else:
                yield self.convert(record, index)


class JsonlSource(_FileSource):
    """One JSON object per line, UTF-8; blank lines are ignored, a line that does not parse or
    is not UTF-8 is skipped and counted (never decoded with replacement characters).

    Args:
        path: the .jsonl file.
        columns: schema field -> key (fields: id, question, prompt, images, answer, answer_type,
            choices, category); unmapped keys go to metadata.
        image_root: directory relative image paths are resolved against; None = the file's directory.
        answer_type: answer_type of every sample, or "auto" to infer it from each answer.
        num_samples: read at most this many records; None = all.
        weight: relative share of this source in a mixture.
        strip_boxed: turn an answer written as `\\boxed{x}` into `x`.
        source_name: `Sample.source` and this source's name; None = "jsonl:<file stem>".
    """

    kind = "jsonl"

    def _column_names(self) -> list[str]:
        # The keys of the first objects (enough to check `columns`; later rows may add keys).
        names: dict[str, None] = {}
        with self.path.open("rb") as f:
            for raw, _ in zip(f, range(100)):
                try:
                    record = json.loads(raw.decode("utf-8"))
                except ValueError:  # UnicodeDecodeError is a ValueError
                    continue
                if isinstance(record, dict):
                    names.update(dict.fromkeys(record))
        if not names:
            raise ConfigError(
                f"path: {self.path.resolve()} holds no JSON object in its first 100 lines (it is "
                f"{_what_it_holds(self.path)}); point path at a JSON-lines file, one object per line"
            )
        return list(names)

    def _records(self) -> Iterator[tuple[int, object]]:
        with self.path.open("rb") as f:
            index = 0
            for line_number, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    record: object = Skipped(SKIP_BAD_ENCODING, f"line {line_number}", str(error)[:120])
                else:
                    try:
                        record = json.loads(line)
                    except ValueError as error:
                        record = Skipped(SKIP_BAD_JSON, f"line {line_number}", str(error)[:120])
                yield index, record
                index += 1


def _what_it_holds(path: Path) -> str:
    """A few words on a file that is not JSON lines: empty, binary, or text of another kind."""
    head = path.read_bytes()[:4096]
    if not head.strip():
        return "empty"
    if b"\0" in head:
        return "binary"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # not just a character cut at the end of the sample
            return "not UTF-8 text"
        text = head[: error.start].decode("utf-8")
    first = text.lstrip().splitlines()[0][:40]
    return f"text starting {first!r}"


class ParquetSource(_FileSource):
    """Rows of a Parquet file, read in batches; image columns may be paths, bytes or {bytes, path}.

    Args: as `JsonlSource` (source_name defaults to "parquet:<file stem>").
    """

    kind = "parquet"

    def _parquet(self):
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as error:
            raise VrlError(
                f"path: cannot read parquet file {self.path.resolve()}: {type(error).__name__}"
            ) from None

    def _column_names(self) -> list[str]:
        return list(self._parquet().schema_arrow.names)

    def _records(self) -> Iterator[tuple[int, object]]:
        index = 0
        for batch in self._parquet().iter_batches(batch_size=256):
            for record in batch.to_pylist():
                yield index, record
                index += 1
