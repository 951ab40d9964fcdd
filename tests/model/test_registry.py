"""Model names and Hub models, offline, through the real ``hf_hub_download``.

conftest sets ``HF_HUB_OFFLINE=1`` and an empty ``HF_HUB_CACHE`` for every test;
here the cache is filled in the Hugging Face layout (``helpers.add_to_hf_cache``) and
models are resolved by name, repo, revision and file as a user would.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import huggingface_hub
import pytest
from helpers import add_to_hf_cache, simple_file, tiny_model
from typer.testing import CliRunner

from autodynamics_cli.cli.app import app
from autodynamics_cli.errors import ModelError
from autodynamics_cli.inference.model import load_model
from autodynamics_cli.model import registry
from autodynamics_cli.model.registry import HubRef, ModelEntry, parse_hub_ref, resolve
from autodynamics_cli.model.weights_file import save_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture(scope="module")
def tiny_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("w") / "m.safetensors"
    save_model(path, tiny_model(), {"license": "MIT (test)", "training_data": "synthetic"}, half=True)
    return path.read_bytes()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    """An empty HF cache that autodyn and huggingface_hub both use, offline."""
    import huggingface_hub.constants as hf_constants

    c = tmp_path / "hf" / "hub"
    c.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(c))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(c))
    return c


@pytest.fixture
def hub_calls(monkeypatch) -> list[dict]:
    """Records each call to the real hf_hub_download (which still runs)."""
    calls: list[dict] = []
    real = huggingface_hub.hf_hub_download

    def spy(*args, **kwargs):
        calls.append({"args": args, **kwargs})
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    return calls


def fake_entry(
    monkeypatch, sha256: str, name: str = "tiny-test", filename: str = "model.safetensors"
) -> ModelEntry:
    entry = registry.register(
        ModelEntry(name, "a test model, not published", filename, "autodyn-test/tiny", COMMIT, sha256)
    )
    monkeypatch.setitem(registry.KNOWN_MODELS, name, entry)  # undone after the test
    return entry


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("owner/name", HubRef("owner/name")),
        ("owner/name@v1.0", HubRef("owner/name", revision="v1.0")),
        (f"hf://owner/name@{COMMIT}/sub/x.safetensors", HubRef("owner/name", "sub/x.safetensors", COMMIT)),
        ("owner/name/x.safetensors", HubRef("owner/name", "x.safetensors")),
        ("owner", None),
        ("owner/name@", None),
        ("owner/name/../x", None),
        ("owner//x", None),
        ("-bad/name", None),
    ],
)
def test_parse_hub_ref(text: str, ref: HubRef | None):
    assert parse_hub_ref(text) == ref
    if ref:
        assert parse_hub_ref(str(ref)) == ref


def test_paths_and_folders_resolve_without_the_hub(tmp_path: Path, tiny_bytes: bytes, hub_calls):
    (tmp_path / "m.safetensors").write_bytes(tiny_bytes)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "model.safetensors").write_bytes(tiny_bytes)
    assert resolve(str(tmp_path / "m.safetensors")) == tmp_path / "m.safetensors"
    assert resolve(str(tmp_path / "folder")) == tmp_path / "folder" / "model.safetensors"
    for missing in ("./nope.safetensors", "runs/x/best.safetensors", "nope"):
        with pytest.raises(ModelError, match="not found"):
            resolve(missing)
    assert hub_calls == []


def test_hub_repo_by_branch_offline(cache: Path, tiny_bytes: bytes, hub_calls):
    snap = add_to_hf_cache(cache, "someone/tiny", "model.safetensors", tiny_bytes, COMMIT)
    assert resolve("someone/tiny") == snap
    assert load_model("someone/tiny").cfg == tiny_model().cfg
    assert hub_calls and all(c["local_files_only"] for c in hub_calls)
    assert hub_calls[0]["revision"] == "main" and Path(hub_calls[0]["cache_dir"]) == cache


def test_hub_repo_pinned_revision_and_file(cache: Path, tiny_bytes: bytes):
    add_to_hf_cache(cache, "someone/tiny", "model.safetensors", tiny_bytes, OTHER)  # main
    snap = add_to_hf_cache(cache, "someone/tiny", "v/alt.safetensors", tiny_bytes, COMMIT, branch=None)
    assert resolve(f"someone/tiny@{COMMIT}/v/alt.safetensors") == snap
    assert resolve(f"hf://someone/tiny@{COMMIT}/v/alt.safetensors") == snap
    with pytest.raises(ModelError, match="not in the Hugging Face cache"):
        resolve("someone/tiny@main/v/alt.safetensors")  # main points at another commit


def test_offline_missing_model_says_which_and_how(cache: Path, monkeypatch):
    fake_entry(monkeypatch, "0" * 64)
    with pytest.raises(ModelError) as e:
        resolve("tiny-test")
    msg = str(e.value)
    assert "'tiny-test'" in msg and "autodyn-test/tiny" in msg and COMMIT in msg
    assert "HF_HUB_OFFLINE=1" in msg and "autodyn models --download tiny-test" in msg
    assert str(cache) in msg


def test_known_model_is_checked_against_its_sha256(cache: Path, tiny_bytes: bytes, monkeypatch):
    fake_entry(monkeypatch, hashlib.sha256(tiny_bytes).hexdigest())
    snap = add_to_hf_cache(cache, "autodyn-test/tiny", "model.safetensors", tiny_bytes, COMMIT)
    assert resolve("tiny-test") == snap
    assert load_model("tiny-test").num_parameters() == tiny_model().num_parameters()


def test_wrong_checksum_is_refused(cache: Path, tiny_bytes: bytes, monkeypatch):
    fake_entry(monkeypatch, hashlib.sha256(b"other bytes").hexdigest())
    add_to_hf_cache(cache, "autodyn-test/tiny", "model.safetensors", tiny_bytes, COMMIT)
    with pytest.raises(ModelError, match="checksum mismatch"):
        load_model("tiny-test")


def test_corrupted_cached_file_is_refused_by_checksum(cache: Path, tiny_bytes: bytes, monkeypatch):
    fake_entry(monkeypatch, hashlib.sha256(tiny_bytes).hexdigest())
    snap = add_to_hf_cache(cache, "autodyn-test/tiny", "model.safetensors", tiny_bytes, COMMIT)
    flipped = bytearray(tiny_bytes)
    flipped[-100] ^= 0xFF  # one byte of weights: the header still parses
    snap.resolve().write_bytes(bytes(flipped))
    with pytest.raises(ModelError, match="checksum mismatch.*delete it"):
        load_model("tiny-test")


def test_truncated_and_corrupt_hub_files_are_clear_errors(cache: Path, tiny_bytes: bytes):
    add_to_hf_cache(cache, "someone/cut", "model.safetensors", tiny_bytes[: len(tiny_bytes) // 2])
    with pytest.raises(ModelError, match="truncated weights file"):
        load_model("someone/cut")
    add_to_hf_cache(cache, "someone/junk", "model.safetensors", b"<html>not found</html>" * 3)
    with pytest.raises(ModelError, match="not a safetensors weights file"):
        load_model("someone/junk")


def test_incompatible_layout_from_the_hub(cache: Path, tmp_path: Path):
    from autodynamics_cli.encoding import tokens as T

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(T, "LAYOUT_VERSION", T.LAYOUT_VERSION + 1)  # a future autodyn wrote it
        save_model(tmp_path / "future.safetensors", tiny_model())
    add_to_hf_cache(
        cache, "someone/future", "model.safetensors", (tmp_path / "future.safetensors").read_bytes()
    )
    with pytest.raises(ModelError, match=r"token layout 2 .*reads layout 1: upgrade autodyn"):
        load_model("someone/future")


def test_register_refuses_unpinned_hub_entries():
    with pytest.raises(ValueError, match="commit"):
        registry.register(ModelEntry("x", "", "model.safetensors", "a/b", "main", "0" * 64))
    with pytest.raises(ValueError, match="sha256"):
        registry.register(ModelEntry("x", "", "model.safetensors", "a/b", COMMIT, None))
    assert "x" not in registry.KNOWN_MODELS


def test_offline_is_read_when_resolving(monkeypatch):
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)  # as if imported before it was set
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert registry.hub_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not registry.hub_offline()


def test_autodyn_model_env_sets_the_default(tmp_path: Path, tiny_bytes: bytes, cache: Path):
    song = tmp_path / "s.mid"
    song.write_bytes(simple_file())
    add_to_hf_cache(cache, "someone/tiny", "model.safetensors", tiny_bytes)
    runner = CliRunner()
    r = runner.invoke(
        app, ["humanize", str(song), "-o", str(tmp_path / "o.mid")], env={"AUTODYN_MODEL": "someone/tiny"}
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["humanize", str(song), "-o", str(tmp_path / "o2.mid")], env={"AUTODYN_MODEL": "someone/missing"}
    )
    assert r.exit_code == 1 and isinstance(r.exception, ModelError)
    assert "someone/missing" in str(r.exception)


def test_models_lists_bundled_known_and_cached(cache: Path, tiny_bytes: bytes, monkeypatch):
    fake_entry(monkeypatch, "0" * 64, name="not-downloaded")
    add_to_hf_cache(cache, "someone/tiny", "model.safetensors", tiny_bytes, COMMIT)
    add_to_hf_cache(cache, "someone/tiny", "model.safetensors", tiny_bytes, OTHER, branch=None)
    add_to_hf_cache(cache, "other/bert", "model.safetensors", _foreign_safetensors())
    r = CliRunner().invoke(app, ["models", "--json"], env={"AUTODYN_MODEL": "someone/tiny"})
    assert r.exit_code == 0, r.output
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["default"]["kind"] == "bundled" and rows["default"]["available"]
    assert rows["default"]["parameters"] > 1e6 and rows["default"]["license"]
    assert rows["not-downloaded"]["kind"] == "known" and not rows["not-downloaded"]["available"]
    main = rows["someone/tiny"]
    assert main["kind"] == "cached" and main["current_default"] and main["problem"] is None
    assert main["parameters"] == tiny_model().num_parameters() and main["license"] == "MIT (test)"
    assert f"someone/tiny@{OTHER}" in rows  # a commit no branch points to: named by its hash
    assert not any(name.startswith("other/bert") for name in rows)  # not an autodyn model
    for name in rows:  # every listed name resolves, offline
        if rows[name]["available"]:
            assert resolve(name).is_file()
    table = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "someone/tiny" in table.stdout and "not downloaded" in table.stdout


def test_models_download_prints_the_cached_path(cache: Path, tiny_bytes: bytes):
    snap = add_to_hf_cache(cache, "someone/tiny", "model.safetensors", tiny_bytes)
    r = CliRunner().invoke(app, ["models", "--download", "someone/tiny"])
    assert r.exit_code == 0 and r.stdout.strip() == str(snap)


def test_models_does_not_import_torch():
    code = (
        "import sys; from typer.testing import CliRunner; from autodynamics_cli.cli.app import app; "
        "r = CliRunner().invoke(app, ['models', '--json']); assert r.exit_code == 0, r.output; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _foreign_safetensors() -> bytes:
    """A valid safetensors file with no autodyn metadata (another library's model)."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return len(header).to_bytes(8, "little") + header + b"\x00" * 8
