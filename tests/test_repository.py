"""Repository-level promises: CI runs the README's test line, pins are pinned, no forbidden imports."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
FORBIDDEN = ("tensorflow_addons", "tensorflow.python.keras", "tf_keras")


def readme_test_line():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Set up and test.*?```\n(.*?)\n```", text, re.S)
    assert block, "README has no 'Set up and test' code block"
    return block.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    line = readme_test_line()
    assert "pytest" in line and "requirements-cpu.txt" in line and "venv" in line     # CI takes the CPU route
    ci_lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert line in ci_lines


def _requirements(name):
    """The pinned lines of a requirements file, `-r` includes read in place."""
    out = []
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            out += _requirements(line[3:].strip())
        elif line:
            out.append(line)
    return out


def test_requirements_are_pinned_with_tensorflow_by_platform():
    """requirements.txt (GPU machines): tensorflow[and-cuda] on Linux; requirements-cpu.txt (CPU
    machines, CI): plain tensorflow, the same version, no CUDA wheel; both pin the rest alike."""
    gpu, cpu = _requirements("requirements.txt"), _requirements("requirements-cpu.txt")
    for r in gpu + cpu:
        assert "==" in r, f"unpinned requirement: {r}"
    assert any(r.startswith("tensorflow[and-cuda]==2.21") and 'sys_platform == "linux"' in r for r in gpu)
    assert any(r.startswith("tensorflow==2.21") and 'sys_platform != "linux"' in r for r in gpu)
    assert "tensorflow==2.21.0" in cpu and not any("cuda" in r or "nvidia" in r for r in cpu)
    assert [r for r in gpu if not r.startswith("tensorflow")] == [r for r in cpu if not r.startswith("tensorflow")]
    assert any(r.startswith("keras==3.") for r in cpu)
    assert not any("addons" in r for r in gpu + cpu)


def test_no_forbidden_imports():
    offenders = []
    for path in ROOT.rglob("*.py"):
        if any(part.startswith(".") or part in ("venv", "__pycache__") for part in path.relative_to(ROOT).parts):
            continue
        if path.name == "test_repository.py":
            continue
        text = path.read_text()
        for name in FORBIDDEN:
            if re.search(rf"^\s*(import|from)\s+{re.escape(name)}\b", text, re.M):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offenders, offenders


def test_tfds_download_dependencies_are_installed():
    """tensorflow-datasets 4.9.10 imports importlib_resources in download_and_prepare but only
    declares it for Python < 3.9; without it every `--dataset celeb_a` download fails."""
    import importlib_resources  # noqa: F401
    from tensorflow_datasets.core import dataset_builder
    assert hasattr(dataset_builder, "DatasetBuilder")
