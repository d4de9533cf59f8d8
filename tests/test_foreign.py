"""experiments/foreign.py (issue 25): which files of the wallpaper packages become the foreign set.
apt-get and dpkg-deb are replaced by a fake that lays out each package as Debian ships it."""
from pathlib import Path

from experiments import foreign


def test_fetch_copies_the_photographs_and_names_their_packages(tmp_path, monkeypatch):
    def fake_run(cmd, cwd):
        if cmd[:2] == ["apt-get", "download"]:
            (Path(cwd) / f"{cmd[2]}_1.0_all.deb").write_bytes(b"deb")
        elif cmd[:2] == ["dpkg-deb", "-x"]:
            package = Path(cmd[2]).name.split("_")[0]
            folder, names = next((f, n) for p, f, n in foreign.PHOTOS if p == package)
            where = Path(cmd[3]) / folder
            where.mkdir(parents=True)
            for name in (names or ("a.jpg", "b.jpg", *foreign.NOT_PHOTOS)) + ("other.jpg", "notes.xml"):
                (where / name).write_bytes(name.encode())
        return ""

    monkeypatch.setattr(foreign, "_run", fake_run)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "stale.jpg").write_bytes(b"from an earlier fetch")
    copied = foreign.fetch(tmp_path)
    names = sorted(p.name for p in (tmp_path / "photos").iterdir())
    # every .jpg of the folders taken whole, minus the gradient; only the named photo of lomiri 20.04
    assert names == sorted(["a.jpg", "b.jpg", "other.jpg"] + ["Kleiber_by_Lukas_Baubkus.jpg"])
    assert len(copied) == 2 * 3 + 1 and not set(names) & foreign.NOT_PHOTOS
    sources = (tmp_path / "SOURCES.md").read_text()
    assert all(f"{p}_1.0_all.deb" in sources and f"/usr/share/doc/{p}/copyright" in sources for p, _, _ in foreign.PHOTOS)
