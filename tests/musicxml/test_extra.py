"""The [musicxml] extra is optional: without partitura autodyn imports, and a score gets one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest
import xml_scores as X

from autodynamics_cli.musicxml import MusicXmlError, read_musicxml


def test_without_partitura_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "partitura", None)  # import partitura raises ImportError
    with pytest.raises(MusicXmlError) as e:
        read_musicxml("score.mxl", X.mxl(X.scale()))
    assert str(e.value) == (
        "score.mxl: reading MusicXML needs autodyn's [musicxml] extra (pip install partitura)"
    )


def test_importing_the_package_does_not_import_partitura():
    code = (
        "import sys, autodynamics_cli.musicxml, autodynamics_cli.humanize.files; "
        "assert 'partitura' not in sys.modules and 'lxml' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
