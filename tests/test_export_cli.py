"""`ksef-local export RRRR-MM [-o PLIK]` on a real data folder: the package where asked (a file, a folder, the
current folder by default), progress and notes on stderr, and the exit codes: 0 written, 1 not writable,
2 a bad or empty month or no company."""
from __future__ import annotations

import csv
import io
import zipfile

from ksef_local import cli
from ksef_local.app import create_app
from ksef_local.forms import parties as party_forms
from ksef_local.store import parties
from tests.conftest import COMPANY_FORM
from tests.factories import issued
from tests.purchase_support import add_purchase


def data_folder(tmp_path, with_company: bool = True):
    home = tmp_path / "dane"
    db = create_app(home).extensions["ksef_local"].db()
    if with_company:
        parties.save_company(db, party_forms.validate_company(COMPANY_FORM))
        issued(db)
        add_purchase(db, 1)
    return home


def test_the_month_package_goes_where_asked(tmp_path, capsys, monkeypatch):
    home = data_folder(tmp_path)
    target = tmp_path / "paczka.zip"
    assert cli.main(["--data-dir", str(home), "export", "2026-11", "-o", str(target)]) == 0
    out, err = capsys.readouterr()
    assert f"Zapisano {target}" in out and "faktury sprzedaży: 1, faktury zakupowe: 1" in out
    assert "Przygotowuję paczkę za listopad 2026: 2 faktury." in err and "… 2 z 2" in err
    assert "Uwaga: Bez UPO: FV/2026/11/1" in err
    with zipfile.ZipFile(target) as archive:
        with io.TextIOWrapper(archive.open("rejestr_2026-11.csv"), encoding="utf-8-sig", newline="") as text:
            rows = list(csv.reader(text, delimiter=";"))
    assert [r[8] for r in rows[1:]] == ["Hurtownia Łódź Sp. z o.o.", "Łódzka Hurtownia Papieru Sp. z o.o."]
    # a folder takes the default name; without -o the current folder does
    assert cli.main(["--data-dir", str(home), "export", "2026-11", "-o", str(tmp_path)]) == 0
    monkeypatch.chdir(tmp_path / "dane")
    assert cli.main(["--data-dir", str(home), "export", "2026-11"]) == 0
    for folder in (tmp_path, tmp_path / "dane"):
        assert zipfile.is_zipfile(folder / "Faktury_2026-11_5261040828.zip")


def test_exit_codes_and_polish_messages(tmp_path, capsys):
    home = data_folder(tmp_path)
    assert cli.main(["--data-dir", str(home), "export", "11-2026"]) == 2
    assert "Nieprawidłowy miesiąc: 11-2026. Podaj rok i miesiąc w postaci RRRR-MM" in capsys.readouterr().err
    assert cli.main(["--data-dir", str(home), "export", "2026-09", "-o", str(tmp_path / "x.zip")]) == 2
    assert "Za wrzesień 2026 nie ma żadnych faktur" in capsys.readouterr().err
    missing = tmp_path / "nie-ma" / "x.zip"
    assert cli.main(["--data-dir", str(home), "export", "2026-11", "-o", str(missing)]) == 1
    assert "nie ma takiego folderu. Nic nie zostało zapisane." in capsys.readouterr().err
    assert not missing.parent.exists()
    assert not (tmp_path / "x.zip").exists()
    bare = data_folder(tmp_path / "pusty", with_company=False)
    assert cli.main(["--data-dir", str(bare), "export", "2026-11"]) == 2
    assert "nie ma jeszcze danych firmy" in capsys.readouterr().err
