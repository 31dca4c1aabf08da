"""Thai is complete: every message in the catalogue is translated, with the same placeholders."""

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%")


def _catalog(lang):
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh)


def test_every_message_of_the_app_is_in_the_catalogue(tmp_path):
    """Fails when a string was added without `make extract` (and a translation)."""
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "N_",
                    "-k", "_l", "-o", str(pot), "--no-location", "."], cwd=ROOT, check=True, capture_output=True)
    with open(pot, "rb") as fh:
        wanted = {m.id for m in read_po(fh) if m.id}
    have = {m.id for m in _catalog("th") if m.id}
    missing = sorted(wanted - have)
    assert not missing, f"not in translations/th (run make extract and translate): {missing[:20]}"


def test_every_thai_message_is_translated_with_its_placeholders():
    untranslated, broken = [], []
    for message in _catalog("th"):
        if not message.id:
            continue
        if not message.string:
            untranslated.append(message.id)
        elif sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string)):
            broken.append(message.id)
    assert not untranslated, untranslated[:20]
    assert not broken, broken[:20]
