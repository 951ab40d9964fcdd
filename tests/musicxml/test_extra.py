"""The [musicxml] extra is optional: without lxml or lark autodyn imports, and a score gets one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest
import xml_scores as X

from autodynamics_cli.musicxml import MusicXmlError, read_musicxml


@pytest.mark.parametrize("missing", ["lxml", "lark"])
def test_without_the_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch, missing: str):
    monkeypatch.setitem(sys.modules, missing, None)  # importing it raises ImportError
    with pytest.raises(MusicXmlError) as e:
        read_musicxml("score.mxl", X.mxl(X.scale()))
    assert str(e.value) == (
        "score.mxl: reading MusicXML needs autodyn's [musicxml] extra "
        "(pip install 'autodynamics-cli[musicxml]')"
    )


def test_importing_the_package_does_not_import_the_readers():
    code = (
        "import sys, autodynamics_cli.musicxml, autodynamics_cli.humanize.files; "
        "assert not {'partitura', 'lxml', 'lark'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
