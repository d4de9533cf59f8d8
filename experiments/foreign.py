"""Issue 25's foreign check: photographs from a source unlike scikit-image's bundled ones (the
nature and landscape photos of Debian's wallpaper packages, 1.3-20 megapixels), to score the
demo's models on photos whose content and scale they never trained on.

    python -m experiments.foreign fetch [--to results/foreign]     # apt-get download, unpack, pick
    python demo.py --heldout-dataset results/foreign/photos        # score the demo's models on them
    python demo.py --runs R --out O --heldout-dataset results/foreign/photos   # an existing demo's runs R
    python -m experiments.probe E OUT --steps 450 --heldout results/foreign/photos -- FLAGS   # one experiment

`fetch` downloads the packages with `apt-get download` (no root install, nothing touches the
system), unpacks them with `dpkg-deb -x` into a temporary folder and copies the photographs
(not the illustrations) into <to>/photos, with <to>/SOURCES.md naming each photo's package,
version and the package's copyright file. The photos are never committed (results/ is ignored).
The held-out protocol is the demo's (data/heldout.py): native-resolution tiles of every photo,
and for photos of over HELDOUT_LARGE px on the short side also tiles and crops of the photo
downscaled to the bundled photos' scale.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (package, folder inside it, file names; None = every .jpg there). The photographs only: each
# package's illustrations and gradients are left out (looked at, 2026-12-07): 27 photos.
PHOTOS = (
    ("mate-backgrounds", "usr/share/backgrounds/mate/nature", None),        # 12 photos, 1.3-4.1 MP
    ("lomiri-wallpapers-16.04", "usr/share/backgrounds", None),             # 14 photos, 1.5-15.9 MP
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds", ("Kleiber_by_Lukas_Baubkus.jpg",)),  # 20.4 MP
)
NOT_PHOTOS = {"umang_by_Abhishek_Mudgal.jpg"}      # a colour gradient among lomiri-16.04's photos


def _run(cmd, cwd):
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}; "
                 "this needs Debian's apt (run `apt-get update` once) and network access to its mirror")
    return done.stdout


def fetch(to):
    """Download, unpack and copy the photographs into to/photos; returns their paths."""
    photos = Path(to) / "photos"
    if photos.is_dir():
        shutil.rmtree(photos)       # only what an earlier fetch copied there
    photos.mkdir(parents=True)
    lines, copied = ["# The foreign photos and where they come from", ""], []
    with tempfile.TemporaryDirectory() as tmp:
        for package, folder, names in PHOTOS:
            _run(["apt-get", "download", package], tmp)
            deb = next(Path(tmp).glob(f"{package}_*.deb"))
            _run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / package)], tmp)
            where = Path(tmp) / package / folder
            files = (sorted(f for f in where.glob("*.jpg") if f.name not in NOT_PHOTOS) if names is None
                     else [where / n for n in names])
            for f in files:
                shutil.copy2(f, photos / f.name)
                copied.append(photos / f.name)
            lines.append(f"- {deb.name}: {len(files)} photos from /{folder} (licences: "
                         f"/usr/share/doc/{package}/copyright in the package)")
    (Path(to) / "SOURCES.md").write_text("\n".join(lines) + "\n")
    return copied


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download the wallpaper packages and copy their photographs")
    f.add_argument("--to", default="results/foreign", help="destination (default: %(default)s)")
    a = p.parse_args(argv)
    copied = fetch(a.to)
    print(f"{len(copied)} photos in {Path(a.to) / 'photos'}; score the demo's models on them with "
          f"`python demo.py --heldout-dataset {Path(a.to) / 'photos'}`")


if __name__ == "__main__":
    main()
