"""Which images a (dataset, split, first, n_train) selection reads, and whether two selections share any.

evaluate.py uses it so that no table row is scored on images its model trained on: a model's
training selection comes from its run's config.json (dataset, first, n_train), the table's from its
own flags. The rules follow `data.sources.open_source`:

- `samples`: the fixed photo split; "train" and "test" never share a photo.
- a folder (or one converted by data.shards): its sorted images; with first/n_train, "train" is
  [0, n_train) and "test" [n_train, first); without, both splits are every image.
- a tfds name: with first/n_train, ranges of the tfds "train" split as for a folder; without,
  the tfds split itself ("test" falls back to "validation" where there is none; two different
  tfds splits are disjoint).

Different datasets are taken as disjoint: nothing here can tell whether a folder holds copies of
another dataset's images.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

ALL = float("inf")


@dataclass(frozen=True)
class Selection:
    dataset: str      # "samples", a tfds name, or a folder's real path
    part: str         # the ordered sequence the range indexes: "samples/train", "train", "test", "all", ...
    lo: float
    hi: float

    def describe(self) -> str:
        if self.dataset == "samples":
            return f"samples ({self.part.split('/')[1]} photos)"
        rng = "" if (self.lo, self.hi) == (0, ALL) else f"[{int(self.lo)}:{'' if self.hi == ALL else int(self.hi)}]"
        if self.part == "all":
            return f"{self.dataset}{rng or ' (every image)'}"
        return f"{self.dataset} {self.part}{rng}"


def _dataset_id(spec: str) -> tuple[str, bool]:
    """(identity, is_folder): a folder's real path, else the spec as given (tfds name, samples)."""
    path = os.path.expanduser(str(spec))
    if os.path.isdir(path):
        return os.path.realpath(path), True
    return str(spec), False


def selection(spec, split="train", first=None, n_train=None) -> Selection:
    """The images `open_source(spec, split, first=first, n_train=n_train)` reads, as a Selection."""
    spec = str(spec)
    if spec == "samples":
        return Selection("samples", f"samples/{split}", 0, ALL)
    dataset, is_folder = _dataset_id(spec)
    if first is None and n_train is None:
        if is_folder:
            return Selection(dataset, "all", 0, ALL)
        return Selection(dataset, split, 0, ALL)         # the tfds split itself
    part = "all" if is_folder else "train"
    hi = ALL if first is None else int(first)
    k = hi if n_train is None else int(n_train)
    return Selection(dataset, part, 0, k) if split == "train" else Selection(dataset, part, k, hi)


def overlaps(a: Selection, b: Selection) -> bool:
    """True when the two selections can share an image (same dataset, same sequence, ranges meet)."""
    if a.dataset != b.dataset:
        return False
    if a.dataset == "samples":
        return a.part == b.part
    # a tfds split "test"/"validation" is disjoint from the tfds "train" split and its ranges
    if a.part != b.part:
        return False
    return max(a.lo, b.lo) < min(a.hi, b.hi)


def of_config(config: dict, split="train") -> Selection | None:
    """The training selection recorded in a run's config.json (None if it names no dataset)."""
    if not isinstance(config, dict) or not config.get("dataset"):
        return None
    return selection(config["dataset"], split, config.get("first"), config.get("n_train"))
