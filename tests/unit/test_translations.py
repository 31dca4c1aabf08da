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


def _key(msgid):
    """A plural message's id is (singular, plural): name it by its singular."""
    return msgid if isinstance(msgid, str) else msgid[0]


def test_every_message_of_the_app_is_in_the_catalogue(tmp_path):
    """Fails when a string was added without `make extract` (and a translation)."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "_l",
            "-o",
            str(pot),
            "--no-location",
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with open(pot, "rb") as fh:
        wanted = {_key(m.id) for m in read_po(fh) if m.id}
    have = {_key(m.id) for m in _catalog("th") if m.id}
    missing = sorted(wanted - have)
    assert not missing, f"not in translations/th (run make extract and translate): {missing[:20]}"


def test_every_thai_message_is_translated_with_its_placeholders():
    untranslated, broken = [], []
    for message in _catalog("th"):
        if not message.id:
            continue
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if not all(strings):
            untranslated.append(_key(message.id))
        elif any(sorted(PLACEHOLDER.findall(_key(message.id))) != sorted(PLACEHOLDER.findall(s)) for s in strings):
            broken.append(_key(message.id))
    assert not untranslated, untranslated[:20]
    assert not broken, broken[:20]


def test_both_catalogues_parse_without_a_warning(capsys):
    """A merge of two appended blocks can drop an msgstr line; babel then only warns and the message falls
    back to its English id."""
    for lang in ("th", "en"):
        _catalog(lang)
    captured = capsys.readouterr()
    assert "WARNING" not in captured.out + captured.err, (captured.out + captured.err)[:2000]
