"""`HFSource`: any Hugging Face dataset (hub id or local path) mapped onto the sample schema.

Local paths: a `save_to_disk` directory is read with `load_from_disk`; a data file, or a
directory of data files, with `load_dataset`. In a directory that also holds image files
(ViRL39K unpacked: `39Krelease.parquet` + `images/`), `load_dataset` alone would take it for
an image folder, so the tabular files are picked out explicitly (or name them in `data_files`).

ViRL39K (`conf/data/virl39k.yaml`) is the worked example: `question` holds `<image>` marks,
`answer` is `\\boxed{...}` (stripped here), `image` is a list of paths relative to the
dataset root, and the other columns (PassRate_32BTrained, PassRate_7BBase, source) land in
`metadata`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vrl.errors import ConfigError, MissingFileError

from .records import RecordConverter, check_answer_type, resolve_columns
from .schema import Sample, Skipped

TABULAR = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv", ".arrow": "arrow"}


class HFSource:
    """Samples from a Hugging Face dataset.

    Args:
        path: hub id ("TIGER-Lab/ViRL39K") or local path (save_to_disk dir, data file, or dir).
        split: split to read.
        name: the dataset's config name (`load_dataset(path, name)`), if it has several.
        columns: schema field -> dataset column (fields: id, question, prompt, images, answer,
            answer_type, choices, category); unmapped columns go to metadata.
        image_root: directory that relative image paths are resolved against; None = the local
            dataset directory (or the data file's directory).
        answer_type: answer_type of every sample, or "auto" to infer it from each answer.
        num_samples: read at most this many rows; None = all.
        weight: relative share of this source in a mixture.
        data_files: passed to `load_dataset` (a file, glob or list, relative to `path`).
        strip_boxed: turn an answer written as `\\boxed{x}` into `x`.
        shuffle_seed: shuffle the rows with this seed before reading; None = file order.
        source_name: `Sample.source` and this source's name; None = "hf:<path or dir name>".
    """

    def __init__(
        self,
        path: str,
        split: str = "train",
        name: str | None = None,
        columns: Mapping[str, str] | None = None,
        image_root: str | None = None,
        answer_type: str = "text",
        num_samples: int | None = None,
        weight: float = 1.0,
        data_files: str | Sequence[str] | None = None,
        strip_boxed: bool = True,
        shuffle_seed: int | None = None,
        source_name: str | None = None,
    ):
        if num_samples is not None and num_samples < 0:
            raise ConfigError(f"num_samples: {num_samples} is negative; use a count >= 0 or null for all")
        if weight < 0:
            raise ConfigError(f"weight: {weight} is negative; use a relative share >= 0")
        self.path, self.split, self.config_name = str(path), split, name
        self.answer_type = check_answer_type(answer_type)
        self.num_samples, self.weight = num_samples, float(weight)
        self.data_files = (
            list(data_files)
            if isinstance(data_files, Sequence) and not isinstance(data_files, str)
            else data_files
        )
        local = Path(self.path).expanduser()
        self.local = local if local.exists() else None
        if self.local is None and _looks_local(self.path):
            raise MissingFileError(f"path: no such file or directory: {local.resolve()}")
        self.name = source_name or f"hf:{self.local.resolve().name if self.local else self.path}"
        if image_root is not None and not Path(image_root).expanduser().is_dir():
            raise MissingFileError(
                f"image_root: {Path(image_root).expanduser().resolve()} is not a directory; fix the path"
            )
        if image_root is None and self.local is not None:
            image_root = str((self.local if self.local.is_dir() else self.local.parent).resolve())
        self.image_root = image_root
        self.dataset = self._load()
        if shuffle_seed is not None:
            self.dataset = self.dataset.shuffle(seed=shuffle_seed)
        self.columns = resolve_columns(columns, list(self.dataset.column_names))
        self._undecoded_images()
        self._check_image_root(image_root)
        self.convert = RecordConverter(self.columns, image_root, self.answer_type, self.name, strip_boxed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n if self.num_samples is None else min(n, self.num_samples)

    def corpus(self) -> Iterator[str]:
        """Nothing beyond the records themselves (the tokenizer reads them from the dataset)."""
        return iter(())

    def iter_samples(self) -> Iterator[Sample | Skipped]:
        limit = len(self)
        for index, row in enumerate(self.dataset):
            if index >= limit:
                break
            yield self.convert(row, index)

    def _load(self) -> Any:
        import datasets

        try:
            if self.local is not None and self.local.is_dir() and _is_saved_dataset(self.local):
                loaded = datasets.load_from_disk(str(self.local))
                if isinstance(loaded, datasets.DatasetDict):
                    if self.split not in loaded:
                        raise ConfigError(
                            f"split: {self.split!r} not in {self.path}; splits: {', '.join(loaded)}"
                        )
                    return loaded[self.split]
                return loaded
            if self.local is not None and self.local.is_file():
                builder = TABULAR.get(self.local.suffix.lower())
                if builder is None:
                    raise ConfigError(
                        f"path: {self.path} is not a {'/'.join(TABULAR)} file or a dataset directory"
                    )
                return datasets.load_dataset(
                    builder, data_files={self.split: str(self.local)}, split=self.split
                )
            if self.local is not None and self.data_files is None:
                found = _tabular_files(self.local, self.split)
                if found is not None:
                    builder, files = found
                    return datasets.load_dataset(builder, data_files={self.split: files}, split=self.split)
            return datasets.load_dataset(
                self.path, self.config_name, split=self.split, data_files=self.data_files
            )
        except (ConfigError, MissingFileError):
            raise
        except Exception as error:  # hub offline, unknown id, bad split: one line, no traceback
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            where = "local path" if self.local is not None else "not a local path, and the hub load failed"
            raise MissingFileError(
                f"path: cannot load dataset {self.path!r} ({where}): {type(error).__name__}: {first[:200]}"
            ) from None

    def _check_image_root(self, image_root: str | None) -> None:
        """Relative image paths need a root: fail now rather than skip every record later."""
        column = self.columns.get("images")
        if image_root is not None or column is None or len(self.dataset) == 0:
            return
        first = self.dataset[0][column]
        first = first[0] if isinstance(first, list) and first else first
        if isinstance(first, str) and not Path(first).is_absolute():
            raise ConfigError(
                f"image_root: images are paths relative to the dataset ({first!r}) and {self.path} is not "
                "a local directory; set image_root to where they are (e.g. where images.zip was unpacked)"
            )

    def _undecoded_images(self) -> None:
        """Image columns come back as {bytes, path}: a corrupt image must become a Skipped, not a crash."""
        from datasets import Image as HFImage
        from datasets import List

        column = self.columns.get("images")
        feature = self.dataset.features.get(column) if column else None
        if isinstance(feature, HFImage):
            self.dataset = self.dataset.cast_column(column, HFImage(decode=False))
        elif isinstance(feature, List) and isinstance(feature.feature, HFImage):
            self.dataset = self.dataset.cast_column(column, List(HFImage(decode=False)))


def _looks_local(path: str) -> bool:
    """A path no hub id can be: absolute, ./ ../ ~, a data-file suffix, or more than owner/name."""
    return path.startswith(("/", ".", "~")) or Path(path).suffix.lower() in TABULAR or path.count("/") > 1


def _is_saved_dataset(path: Path) -> bool:
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def _tabular_files(root: Path, split: str) -> tuple[str, list[str]] | None:
    """The data files of `split` under a plain directory: the most common tabular kind.

    Files named after a split (train-*.parquet, data/test.jsonl) are filtered by `split`;
    if none is named after any split, all of them are the "train" split. None when the
    directory has a hub-style README (its `configs:` decide) or no tabular file.
    """
    readme = root / "README.md"
    if readme.is_file() and "configs:" in readme.read_text(errors="ignore"):
        return None
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix.lower() in TABULAR]
    files = [p for p in files if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    if not files:
        return None
    builder = max(
        set(TABULAR[p.suffix.lower()] for p in files),
        key=lambda b: sum(TABULAR[p.suffix.lower()] == b for p in files),
    )
    files = [p for p in files if TABULAR[p.suffix.lower()] == builder]

    def named(p: Path, s: str) -> bool:
        return re.search(rf"(^|[/_.\-]){re.escape(s)}([/_.\-]|$)", str(p.relative_to(root))) is not None

    known = ("train", "test", "validation", "valid", "val", "dev", "eval")
    if any(named(p, s) for p in files for s in known):
        files = [p for p in files if named(p, split)]
        if not files:
            raise ConfigError(f"split: no {builder} file under {root} is named after split {split!r}")
    elif split != "train":
        raise ConfigError(f"split: {root} has no split-named files, only 'train'; set split: train")
    return builder, [str(p) for p in files]
