"""Model names: bundled files, known Hub models, Hub references and paths.

``--model`` accepts, in this order:

1. a known name from ``KNOWN_MODELS`` (``default`` is the model shipped inside
   the package; Hub entries are pinned to a commit and a sha256, in the manner
   of whisper and faster-whisper, so a name always means the same bytes);
2. a path to a ``.safetensors`` file, or to a folder holding ``model.safetensors``;
3. a Hub reference ``[hf://]owner/name[@revision][/path/in/repo.safetensors]``, the
   form of huggingface_hub's ``hf://`` paths (file defaults to ``model.safetensors``,
   revision to ``main``). A name ending in ``.safetensors`` with neither ``hf://``
   nor ``@revision`` is taken as a local path, so a mistyped path fails at once
   with "not found" instead of asking the Hub.

Hub files go through ``huggingface_hub.hf_hub_download`` into the standard
Hugging Face cache (``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
``~/.cache/huggingface/hub``). ``HF_HUB_OFFLINE=1`` means cache only: autodyn
reads it when it resolves a model (huggingface_hub reads it once, at import) and
passes ``local_files_only=True``, so the setting holds however late it is made.
A pinned commit that is cached is returned by huggingface_hub without any
network request, online or not.
"""

from __future__ import annotations

import hashlib
import os
import os.path
import re
from dataclasses import dataclass
from pathlib import Path

from autodynamics_cli import __version__
from autodynamics_cli.errors import ModelError
from autodynamics_cli.model.weights_file import (
    DEFAULT_MODEL_FILE,
    WeightsInfo,
    bundled_weights_dir,
    inspect_weights,
)

HUB_DEFAULT_FILE = "model.safetensors"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_REPO_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class ModelEntry:
    """A known model: bundled in the package (``repo_id`` None) or pinned on the Hub."""

    name: str
    description: str
    filename: str
    repo_id: str | None = None
    revision: str | None = None  # a full commit hash for Hub entries
    sha256: str | None = None

    @property
    def bundled(self) -> bool:
        return self.repo_id is None

    def ref(self) -> HubRef | None:
        if self.repo_id is None:  # bundled
            return None
        assert self.revision is not None  # register() refuses a Hub entry without a pinned commit
        return HubRef(self.repo_id, self.filename, self.revision)


KNOWN_MODELS: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add a known model; Hub entries must pin a commit and a sha256 so a name never drifts."""
    if not entry.bundled and not (
        entry.revision
        and _COMMIT.fullmatch(entry.revision)
        and entry.sha256
        and re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
    ):
        raise ValueError(f"{entry.name}: a Hub entry needs a 40-hex commit and a sha256")
    KNOWN_MODELS[entry.name] = entry
    return entry


register(
    ModelEntry(
        "default",
        "the bundled model: a 3.4M-parameter note tagger trained on the ASAP "
        "performances and their aligned scores (model card: weights/README.md)",
        DEFAULT_MODEL_FILE,
    )
)


@dataclass(frozen=True)
class HubRef:
    """A file in a Hub model repo at a revision (branch, tag or commit)."""

    repo_id: str
    filename: str = HUB_DEFAULT_FILE
    revision: str = "main"

    def __str__(self) -> str:
        """The form ``parse_hub_ref`` reads back (as in ``hf://`` paths); the revision is always shown."""
        file = "" if self.filename == HUB_DEFAULT_FILE else f"/{self.filename}"
        return f"{self.repo_id}@{self.revision}{file}"


def parse_hub_ref(text: str) -> HubRef | None:
    """``[hf://]owner/name[@revision][/path/in/repo]``, as huggingface_hub's ``hf://`` paths; else None."""
    text = text.removeprefix("hf://")
    parts = text.split("/")
    if len(parts) < 2:
        return None
    owner, (name, _, revision) = parts[0], parts[1].partition("@")
    if "@" in parts[1] and not revision:
        return None
    if not (_REPO_PART.fullmatch(owner) and _REPO_PART.fullmatch(name)):
        return None
    rest = parts[2:]
    if rest and (not all(rest) or any(p in (".", "..") for p in rest)):
        return None
    return HubRef(f"{owner}/{name}", "/".join(rest) or HUB_DEFAULT_FILE, revision or "main")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as it is now (huggingface_hub itself reads it only at import)."""
    if _truthy(os.environ.get("HF_HUB_OFFLINE")) or _truthy(os.environ.get("TRANSFORMERS_OFFLINE")):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> Path:
    """The Hugging Face cache folder, by the same environment rules as huggingface_hub, read now."""
    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if env:
        return Path(os.path.expandvars(env)).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _looks_like_path(text: str) -> bool:
    """A name meant as a local path: a miss then says 'not found' instead of asking the Hub."""
    if text.startswith("hf://"):
        return False
    if text.startswith(("/", ".", "~")) or "\\" in text or re.match(r"[A-Za-z]:", text):
        return True
    return text.endswith(".safetensors") and "@" not in text


def resolve(name: str | None) -> Path:
    """The local weights file for a model name, downloading a Hub model if needed."""
    name = name or "default"
    entry = KNOWN_MODELS.get(name)
    if entry is not None:
        if entry.bundled:
            path = bundled_weights_dir() / entry.filename
            if not path.is_file():
                raise ModelError(
                    f"the bundled model {name!r} is missing ({path}); reinstall autodyn or pass --model PATH"
                )
            return path
        hub = entry.ref()
        assert hub is not None  # not bundled
        return download(hub, entry.sha256, name)
    path = Path(name).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        if (path / HUB_DEFAULT_FILE).is_file():
            return path / HUB_DEFAULT_FILE
        raise ModelError(f"{path}: folder without a {HUB_DEFAULT_FILE}")
    ref = None if _looks_like_path(name) else parse_hub_ref(name)
    if ref is None:
        raise ModelError(
            f"model {name!r} not found: give a .safetensors file, a known name "
            f"({', '.join(sorted(KNOWN_MODELS))}; see `autodyn models`) "
            "or a Hub repo as owner/name[@revision][/file]"
        )
    return download(ref, None, name)


def download(ref: HubRef, sha256: str | None = None, label: str | None = None) -> Path:
    """Fetch (or find in the cache) one Hub file; check its sha256 when one is known."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import (
        EntryNotFoundError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    what = f"model {label!r} ({ref})" if label and label != str(ref) else f"model {ref}"
    cache = hub_cache_dir()
    offline = hub_offline()
    try:
        local = Path(
            hf_hub_download(
                ref.repo_id,
                ref.filename,
                revision=ref.revision,
                cache_dir=cache,
                local_files_only=offline,
                library_name="autodyn",
                library_version=__version__,
            )
        )
    except LocalEntryNotFoundError:
        why = (
            "HF_HUB_OFFLINE=1 forbids downloading it"
            if offline
            else "the Hugging Face Hub could not be reached"
        )
        raise ModelError(
            f"{what} is not in the Hugging Face cache ({cache}) and {why}; "
            f"fetch it once with network access: autodyn models --download {label or ref}"
        ) from None
    except RepositoryNotFoundError:
        raise ModelError(
            f"{what}: no such Hub repo {ref.repo_id!r} (or it is private or gated: "
            "log in with `hf auth login`)"
        ) from None
    except RevisionNotFoundError:
        raise ModelError(f"{what}: repo {ref.repo_id!r} has no revision {ref.revision!r}") from None
    except EntryNotFoundError:
        raise ModelError(
            f"{what}: repo {ref.repo_id!r} has no file {ref.filename!r} at {ref.revision!r}"
        ) from None
    except HFValidationError as e:
        raise ModelError(f"{what}: not a valid Hub reference ({str(e).splitlines()[0]})") from None
    except (HfHubHTTPError, OSError, ValueError) as e:
        raise ModelError(f"{what}: download failed ({str(e).splitlines()[0] if str(e) else e!r})") from None
    if sha256:
        got = sha256_file(local)
        if got != sha256:
            raise ModelError(
                f"{what}: checksum mismatch for {local.resolve()} (sha256 {got[:12]}..., "
                f"expected {sha256[:12]}...); the cached file is corrupt or was "
                "replaced: delete it and fetch it again"
            )
    return local


@dataclass
class ModelListing:
    """One row of ``autodyn models``."""

    name: str
    kind: str  # bundled, known or cached
    source: str
    path: str | None
    available: bool
    size_bytes: int | None = None
    parameters: int | None = None
    training_data: str | None = None
    license: str | None = None
    layout_version: str | None = None
    autodyn_version: str | None = None
    problem: str | None = None  # why it cannot be used, if it cannot
    description: str = ""


def _describe(row: ModelListing, path: Path) -> ModelListing:
    try:
        info: WeightsInfo = inspect_weights(path)
    except ModelError as e:
        row.problem = str(e).removeprefix(f"{path}: ")
        return row
    m = info.metadata
    row.size_bytes, row.parameters = info.size_bytes, info.parameters
    row.training_data = m.get("training_data")
    row.license = m.get("license")
    row.layout_version, row.autodyn_version = m.get("layout_version"), m.get("autodyn_version")
    row.problem = info.incompatibility()
    return row


def _cached_path(ref: HubRef, cache: Path) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(ref.repo_id, ref.filename, cache_dir=cache, revision=ref.revision)
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def list_models() -> list[ModelListing]:
    """Bundled files, known models (cached or not), and other autodyn models in the HF cache."""
    rows: list[ModelListing] = []
    seen: set[str] = set()  # absolute paths, symlinks kept: two snapshots may share one blob
    bundled = bundled_weights_dir()
    path: Path | None  # a known model's file; None: a Hub model not in the cache
    for entry in KNOWN_MODELS.values():
        if entry.bundled:
            path = bundled / entry.filename
            row = ModelListing(
                entry.name, "bundled", "package", str(path), path.is_file(), description=entry.description
            )
        else:
            ref = entry.ref()
            assert ref is not None  # not bundled
            found = _cached_path(ref, hub_cache_dir())
            row = ModelListing(
                entry.name,
                "known",
                str(ref),
                str(found) if found else None,
                found is not None,
                description=entry.description,
            )
            path = found
        if path is not None and path.is_file():
            seen.add(os.path.abspath(path))
            _describe(row, path)
        rows.append(row)
    if bundled.is_dir():
        for path in sorted(bundled.glob("*.safetensors")):
            if os.path.abspath(path) not in seen:
                seen.add(os.path.abspath(path))
                rows.append(_describe(ModelListing(str(path), "bundled", "package", str(path), True), path))
    rows.extend(r for r in _cached_models(seen))
    return rows


def _cached_models(seen: set[str]) -> list[ModelListing]:
    """Every autodyn weights file in the HF cache, named as a pinned Hub reference."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.utils import CacheNotFound

    try:
        info = scan_cache_dir(hub_cache_dir())
    except (CacheNotFound, OSError):
        return []
    rows = []
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.commit_hash):
            for f in sorted(rev.files, key=lambda f: str(f.file_path)):
                path = Path(f.file_path)
                if path.suffix != ".safetensors" or os.path.abspath(path) in seen:
                    continue
                rel = path.relative_to(rev.snapshot_path).as_posix()
                pinned = HubRef(repo.repo_id, rel, rev.commit_hash)
                # The name resolves offline to this very file: by branch if main points here.
                name = str(HubRef(repo.repo_id, rel)) if "main" in rev.refs else str(pinned)
                name = name.removesuffix("@main")
                row = _describe(
                    ModelListing(
                        name, "cached", str(pinned), str(path), True, description=", ".join(sorted(rev.refs))
                    ),
                    path,
                )
                if row.problem and row.problem.startswith("not an autodyn model"):
                    continue
                seen.add(os.path.abspath(path))
                rows.append(row)
    return rows
