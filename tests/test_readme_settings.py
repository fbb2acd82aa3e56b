"""README's configuration section names every environment variable a settings class reads, each under a
heading naming a class that reads it, and no variable nobody reads: rows under a heading that names no
settings class (variables read straight from the environment, or by tools such as `task dev` and compose)
must name variables the code or the deployment files really mention."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from downloader.settings import DownloaderSettings
from gateway.settings import GatewaySettings
from imaging.settings import ImagingSettings
from janitor.settings import JanitorSettings
from jobcommon.service import WorkerSettings
from jobcommon.settings import AdmissionSettings, CommonSettings, NetworkGuardSettings, TracingUiSettings
from metadata.settings import MetadataSettings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

CLASSES: dict[str, type[BaseSettings]] = {
    cls.__name__: cls
    for cls in (
        TracingUiSettings,
        CommonSettings,
        WorkerSettings,
        NetworkGuardSettings,
        AdmissionSettings,
        GatewaySettings,
        DownloaderSettings,
        MetadataSettings,
        ImagingSettings,
        JanitorSettings,
    )
}
"""Every settings class a mediajobs process reads (the services' own, and jobcommon's they are made of)."""

OUTSIDE = "outside the settings classes"
"""The group of rows under a heading that names no settings class."""

READERS = (
    *(ROOT / "libs").rglob("*.py"),
    *(ROOT / "services").rglob("*.py"),
    *(ROOT / "tools").glob("*.py"),
    *(ROOT / "tests" / "support").glob("*.py"),
    ROOT / "compose.yaml",
    ROOT / "Taskfile.yml",
    ROOT / ".ci" / "run",
)
"""Where a variable read outside the settings classes must be mentioned."""


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables pydantic-settings reads for `cls`'s fields (case-insensitive: upper case)."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        if isinstance(alias, str):
            names.add(alias.upper())
        elif isinstance(alias, AliasChoices):
            names.update(choice.upper() for choice in alias.choices if isinstance(choice, str))
        else:
            names.add((prefix + name).upper())
    return names


def configuration_groups(text: str) -> dict[str, tuple[tuple[str, ...], set[str]]]:
    """The README's configuration section: per bold heading, (the settings classes it names, the variables
    of its table rows). A heading naming no class is `OUTSIDE`'s."""
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    groups: dict[str, tuple[tuple[str, ...], set[str]]] = {}
    heading = ""
    for line in section.splitlines():
        if line.startswith("**"):
            heading = line
            classes = tuple(re.findall(r"`(\w+Settings)`", line))
            groups[heading] = (classes, set())
        elif line.startswith("| `"):
            assert heading, f"a configuration row before any heading: {line}"
            first_cell = line.split("|")[1]
            groups[heading][1].update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return groups


def test_every_setting_is_in_the_readme_under_a_class_that_reads_it() -> None:
    groups = configuration_groups(README.read_text(encoding="utf-8"))
    assert groups, "no bold headings with tables in README's Configuration section"
    documented: set[str] = set()
    misplaced: list[str] = []
    for heading, (classes, names) in groups.items():
        for class_name in classes:
            assert class_name in CLASSES, f"README names {class_name}, which is no settings class: {heading}"
        if not classes:
            continue
        read = set.intersection(*(env_names(CLASSES[c]) for c in classes))
        misplaced += [f"{name} (under {heading!r})" for name in sorted(names - read)]
        documented |= names
    every = set().union(*(env_names(cls) for cls in CLASSES.values()))
    assert not sorted(every - documented), (
        f"settings missing from README's configuration: {sorted(every - documented)}"
    )
    assert not misplaced, f"README rows naming variables the heading's classes do not read: {misplaced}"


def test_variables_read_outside_the_settings_classes_are_really_read() -> None:
    groups = configuration_groups(README.read_text(encoding="utf-8"))
    outside = set().union(*(names for classes, names in groups.values() if not classes))
    assert outside, "README lists no variables read outside the settings classes (LOG_LEVEL, ...)"
    every = set().union(*(env_names(cls) for cls in CLASSES.values()))
    assert not sorted(outside & every), (
        f"read by a settings class: list them under it: {sorted(outside & every)}"
    )
    sources = "\n".join(path.read_text(encoding="utf-8") for path in READERS if path.is_file())
    unread = [name for name in sorted(outside) if not re.search(rf"\b{name}\b", sources)]
    assert not unread, f"README names variables nothing reads: {unread}"
