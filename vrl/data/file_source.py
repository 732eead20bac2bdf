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

from .records import SKIP_BAD_JSON, RecordConverter, check_answer_type, resolve_columns
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
    """One JSON object per line; blank lines are ignored, a line that does not parse is skipped.

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
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for line, _ in zip(f, range(100)):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    names.update(dict.fromkeys(record))
        return list(names)

    def _records(self) -> Iterator[tuple[int, object]]:
        with self.path.open(encoding="utf-8", errors="replace") as f:
            index = 0
            for line_number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record: object = json.loads(line)
                except ValueError as error:
                    record = Skipped(SKIP_BAD_JSON, f"line {line_number}", str(error)[:120])
                yield index, record
                index += 1


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
