"""`HFSource`: any Hugging Face dataset (hub id or local path) mapped onto the sample schema.

Local paths: a `save_to_disk` directory is read with `load_from_disk`; a data file, or a
directory of data files, with `load_dataset`. In a directory that also holds image files
(ViRL39K unpacked: `39Krelease.parquet` + `images/`), `load_dataset` alone would take it for
an image folder, so the tabular files are picked out explicitly (or name them in `data_files`).

ViRL39K (`conf/data/virl39k.yaml`, `vrl.data.virl39k`) is the worked example: `question` holds
`<image>` marks, `answer` is `\\boxed{...}` (stripped here), `image` is a list of paths relative
to the dataset root, and the other columns (PassRate_32BTrained, PassRate_7BBase, source) land
in `metadata`.

Prompts: a recipe's instruction is part of its data. `prompt_template` wraps the question
(`{question}` is replaced by it, so LaTeX braces in the template need no escaping) and
`system_prompt` adds a system message; the bare question is kept as `metadata["question"]`
(what a judge is shown).

Images are never dropped silently. When the dataset has an image column (an `Image` feature,
or a column named `image`/`images`) it must be mapped (`columns.images`), a row without an
image is skipped as `missing_image`, and a source whose first rows all come out without one
(a wrong column, images not unpacked) stops with an error instead of training blind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vrl.errors import ConfigError, MissingFileError, VrlError

from .records import (
    SKIP_MISSING_IMAGE,
    SKIP_UNREADABLE_IMAGE,
    RecordConverter,
    check_answer_type,
    resolve_columns,
)
from .schema import Sample, Skipped

TABULAR = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv", ".arrow": "arrow"}
IMAGE_COLUMN_NAMES = ("image", "images")  # columns that hold images whatever their feature type
BLIND_CHECK_ROWS = 32  # a source whose first rows all lack an image stops here
ALL_SPLITS = "all"  # split: every split of the dataset, concatenated


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
        prompt_template: the user message, `{question}` replaced by the question (`<image>`
            marks kept where they are); None = the question as it is.
        system_prompt: a system message before it; None = none (the chat template's default).
        require_images: every sample must have an image (rows without one are skipped, and a
            source whose first rows all lack one is an error); None = when the dataset has an
            image column.
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
        prompt_template: str | None = None,
        system_prompt: str | None = None,
        require_images: bool | None = None,
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
        if prompt_template is not None and "{question}" not in prompt_template:
            raise ConfigError(f"prompt_template: {prompt_template!r} has no {{question}} placeholder")
        self.prompt_template, self.system_prompt = prompt_template, system_prompt
        self.dataset = self._select(self._load())
        if shuffle_seed is not None:
            self.dataset = self.dataset.shuffle(seed=shuffle_seed)
        self.columns = resolve_columns(columns, self._column_names())
        self.image_columns = self._image_columns()
        self.require_images = bool(self.image_columns) if require_images is None else bool(require_images)
        self._check_images_mapped()
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
        with_image = without_image = 0
        for index, row in enumerate(self.dataset):
            if index >= limit:
                break
            item = self._finish(self.convert(self._prepare(row), index))
            if isinstance(item, Sample):
                with_image += 1
            elif item.reason in (SKIP_MISSING_IMAGE, SKIP_UNREADABLE_IMAGE):
                without_image += 1
            if self.require_images and not with_image and without_image == min(BLIND_CHECK_ROWS, limit):
                raise VrlError(
                    f"data {self.name}: none of the first {without_image} rows has an image (last: "
                    f"{item.reason} {getattr(item, 'detail', '')!s:.120}); check columns.images "
                    f"({self.columns.get('images')!r}) and image_root, or set require_images: false "
                    "for a text-only source"
                )
            yield item

    # -- hooks for dataset-specific sources ----------------------------------------------------

    def _select(self, dataset: Any) -> Any:
        """The rows this source reads (e.g. ViRL39K's PassRate selection); all of them here."""
        return dataset

    def _prepare(self, row: dict[str, Any]) -> dict[str, Any]:
        """A raw row as `columns` sees it (e.g. DeepEyes' nested answer flattened); as is here."""
        return row

    def _column_names(self) -> list[str]:
        """Columns `columns` may name: the dataset's, plus any `_prepare` adds."""
        return list(self.dataset.column_names)

    def _finish(self, item: Sample | Skipped) -> Sample | Skipped:
        """Apply the prompt template and system prompt; skip an image-less row when images are required."""
        if not isinstance(item, Sample):
            return item
        if self.require_images and not item.images:
            column = self.columns.get("images")
            return Skipped(SKIP_MISSING_IMAGE, item.id, f"no image in column {column!r}")
        if self.prompt_template is None and self.system_prompt is None:
            return item
        users = [i for i, m in enumerate(item.prompt) if m["role"] == "user"]
        if self.prompt_template is not None and users:
            last = item.prompt[users[-1]]
            item.metadata.setdefault("question", last["content"])
            last["content"] = self.prompt_template.replace("{question}", last["content"])
        if self.system_prompt is not None and not any(m["role"] == "system" for m in item.prompt):
            item.prompt.insert(0, {"role": "system", "content": self.system_prompt})
        return item

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
                    return datasets.load_dataset(builder, data_files={"train": files}, split="train")
            if self.split == ALL_SPLITS:
                loaded = datasets.load_dataset(self.path, self.config_name, data_files=self.data_files)
                return datasets.concatenate_datasets([loaded[name] for name in sorted(loaded)])
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

    def _image_columns(self) -> list[str]:
        """Columns holding images: an `Image` feature (or a list of them), or named image/images."""
        from datasets import Image as HFImage
        from datasets import List

        found = []
        for name, feature in self.dataset.features.items():
            is_image = isinstance(feature, HFImage) or (
                isinstance(feature, List) and isinstance(feature.feature, HFImage)
            )
            if is_image or name in IMAGE_COLUMN_NAMES:
                found.append(name)
        return found

    def _check_images_mapped(self) -> None:
        """A dataset with images whose image column is not mapped would train blind: refuse."""
        if self.require_images and "images" not in self.columns:
            where = ", ".join(repr(c) for c in self.image_columns) or "none found"
            raise ConfigError(
                f"columns.images: {self.name} needs images but no column is mapped to them (image "
                f"columns: {where}); set columns.images to the dataset's image column"
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

    Files named after `split` (train-*.parquet, data/standard-*.parquet, data/test.jsonl) are
    that split; `split: all` takes every file; when no file is named after any split, all of
    them are the "train" split. None when the directory has a hub-style README (its `configs:`
    decide) or no tabular file.
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
    if split == ALL_SPLITS:
        return builder, [str(p) for p in files]

    def named(p: Path, s: str) -> bool:
        return re.search(rf"(^|[/_.\-]){re.escape(s)}([/_.\-]|$)", str(p.relative_to(root))) is not None

    known = ("train", "test", "validation", "valid", "val", "dev", "eval")
    matching = [p for p in files if named(p, split)]
    if matching:
        return builder, [str(p) for p in matching]
    if any(named(p, s) for p in files for s in known):
        raise ConfigError(f"split: no {builder} file under {root} is named after split {split!r}")
    if split != "train":
        raise ConfigError(f"split: {root} has no split-named files, only 'train'; set split: train")
    return builder, [str(p) for p in files]


def takes_hfsource_arguments(cls: type) -> type:
    """Class decorator for an `HFSource` subclass whose `__init__(own..., **kwargs)` passes the
    rest to `HFSource`: its signature (what config checks and `--cfg job` readers see) becomes its
    own parameters plus HFSource's, so a misspelt key is still refused before any work."""
    import inspect

    own = inspect.signature(cls.__init__)
    base = inspect.signature(HFSource.__init__)
    params = [p for p in own.parameters.values() if p.kind is not p.VAR_KEYWORD]
    names = {p.name for p in params}
    params += [
        p.replace(kind=p.KEYWORD_ONLY)
        for p in base.parameters.values()
        if p.name not in names and p.kind is not p.VAR_KEYWORD
    ]
    params.sort(key=lambda p: p.kind)  # positional-or-keyword before keyword-only
    cls.__init__.__signature__ = own.replace(parameters=params)
    return cls
