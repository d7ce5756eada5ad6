"""The external programs that render previews, each run as a bounded child process.

Every run gets its own process group, a wall-clock deadline (the whole group is killed with SIGKILL
when it passes), and resource limits set before the program starts: address space, CPU seconds, the
size of any file it writes, no core dumps. The input is untrusted, so a program stuck on it (a
PDF that makes the rasteriser loop, a document that makes LibreOffice spin) costs at most the
deadline, never a worker.

LibreOffice runs with a user profile made for that run alone (and removed afterwards): so runs never
share or hand over to a running instance, and the profile fixes macro security at its highest level
with macro execution disabled, so no macro in a document ever runs.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

# Written into each run's fresh LibreOffice profile (``user/registrymodifications.xcu``): macro security
# "very high" (3: only signed macros from trusted locations, and there are none), macro execution
# disabled outright, no links to other documents updated, no first-start dialogs.
_LIBREOFFICE_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel" \
oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution" \
oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks" \
oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update"><prop oor:name="Link" oor:op="fuse">\
<value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Content/Update"><prop oor:name="Link" oor:op="fuse">\
<value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc"><prop oor:name="FirstRun" oor:op="fuse">\
<value>false</value></prop></item>
</oor:items>
"""


class ToolTimeout(Exception):
    """The program did not finish before its deadline; its process group was killed."""


class ToolFailed(Exception):
    """The program exited with an error (or was killed by a resource limit)."""


class ToolMissing(Exception):
    """The program is not installed on this node."""


@dataclass(frozen=True)
class Limits:
    seconds: int
    memory_bytes: int
    output_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(seconds=settings.CATALOG_PREVIEW_TIMEOUT_SECONDS,
                   memory_bytes=settings.CATALOG_PREVIEW_MEMORY_BYTES,
                   output_bytes=settings.CATALOG_PREVIEW_MAX_OUTPUT_BYTES)


def tool_path(name: str) -> str | None:
    """The executable configured for ``name`` (``soffice``, ``pdftoppm``, ``ffmpeg``), or None when absent."""
    configured = {"soffice": settings.CATALOG_PREVIEW_SOFFICE, "pdftoppm": settings.CATALOG_PREVIEW_PDFTOPPM,
                  "ffmpeg": settings.CATALOG_PREVIEW_FFMPEG}[name]
    return shutil.which(configured) if configured else None


def tools_available() -> dict[str, bool]:
    """Which preview programs this node has: ``{"soffice": bool, "pdftoppm": bool, "ffmpeg": bool}``."""
    return {name: tool_path(name) is not None for name in ("soffice", "pdftoppm", "ffmpeg")}


def run_bounded(argv: Sequence[str], *, limits: Limits, cwd: str, env: dict[str, str] | None = None) -> None:
    """Run ``argv`` within ``limits``. Raises ToolTimeout (killed at the deadline), ToolFailed (a non-zero
    exit or a signal, e.g. the CPU or file-size limit), ToolMissing (no such program).

    The limits are set by util-linux's ``prlimit`` wrapper (Essential on Debian) between fork and exec of the
    program; without it, by ``setrlimit`` in the child (``preexec_fn``, which Python documents as unsafe in a
    threaded process, hence only the fallback)."""
    cpu = limits.seconds + 1
    wrapper = shutil.which("prlimit")
    command = list(argv)
    preexec = None
    if wrapper is not None:
        command = [wrapper, f"--as={limits.memory_bytes}", f"--cpu={cpu}", f"--fsize={limits.output_bytes}",
                   "--core=0", "--", *command]
    else:
        def preexec() -> None:  # runs in the child, before exec
            resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    if shutil.which(argv[0]) is None:
        raise ToolMissing(argv[0])
    try:
        process = subprocess.Popen(  # noqa: S603 - a fixed program with arguments we build, never a shell
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=preexec)  # noqa: PLW1509
    except FileNotFoundError as exc:
        raise ToolMissing(argv[0]) from exc
    try:
        _, stderr = process.communicate(timeout=limits.seconds)
    except subprocess.TimeoutExpired as exc:
        _kill_group(process)
        raise ToolTimeout(f"{Path(argv[0]).name} did not finish within {limits.seconds} s") from exc
    finally:
        _kill_group(process)  # helpers it left behind (LibreOffice forks) go with it
    if process.returncode != 0:
        tail = (stderr or b"")[-300:].decode("utf-8", "replace").strip()
        raise ToolFailed(f"{Path(argv[0]).name} exited with {process.returncode}: {tail}")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.returncode is None:
        process.wait()
    process.stderr and process.stderr.close()


def office_to_pdf(source: Path, *, out_dir: Path, limits: Limits) -> Path:
    """Convert an office document to PDF with LibreOffice in headless mode (its own throwaway profile,
    macros never run). Returns the PDF's path. Raises ToolMissing, ToolTimeout or ToolFailed (also when
    LibreOffice exits cleanly without writing a PDF, as it does on a document it cannot read)."""
    soffice = tool_path("soffice")
    if soffice is None:
        raise ToolMissing("soffice")
    with tempfile.TemporaryDirectory(prefix="lo-profile-", dir=settings.FILE_UPLOAD_TEMP_DIR) as profile:
        user = Path(profile) / "user"
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(_LIBREOFFICE_PROFILE, encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": profile, "LANG": "C.UTF-8",
               "SAL_USE_VCLPLUGIN": "svp"}
        run_bounded([soffice, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--invisible",
                     "--norestore", "--nolockcheck", "--nodefault", "--nologo", "--nofirststartwizard",
                     "--convert-to", "pdf", "--outdir", str(out_dir), str(source)],
                    limits=limits, cwd=profile, env=env)
    produced = out_dir / (source.stem + ".pdf")
    if not produced.is_file() or produced.stat().st_size == 0:
        raise ToolFailed("LibreOffice wrote no PDF (the document could not be read)")
    return produced


def pdf_to_pngs(source: Path, *, out_dir: Path, pages: int, width: int, limits: Limits) -> list[Path]:
    """Rasterise the first ``pages`` pages of a PDF into PNGs ``width`` pixels wide (poppler's pdftoppm).
    Returns them in page order. Raises ToolMissing, ToolTimeout or ToolFailed (also when no page came out)."""
    pdftoppm = tool_path("pdftoppm")
    if pdftoppm is None:
        raise ToolMissing("pdftoppm")
    prefix = out_dir / "page"
    run_bounded([pdftoppm, "-png", "-f", "1", "-l", str(pages), "-scale-to-x", str(width), "-scale-to-y", "-1",
                 str(source), str(prefix)], limits=limits, cwd=str(out_dir), env={"PATH": os.environ.get("PATH", "")})
    produced = sorted(out_dir.glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    if not produced:
        raise ToolFailed("pdftoppm rendered no page")
    return produced


def video_poster(source: Path, *, out_dir: Path, width: int, limits: Limits) -> Path:
    """One frame of a video (one second in, or the first frame of a shorter one) as a PNG ``width`` pixels
    wide (ffmpeg). Raises ToolMissing, ToolTimeout or ToolFailed."""
    ffmpeg = tool_path("ffmpeg")
    if ffmpeg is None:
        raise ToolMissing("ffmpeg")
    target = out_dir / "poster.png"
    for offset in ("1", "0"):
        run_bounded([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-ss", offset,
                     "-i", str(source), "-frames:v", "1", "-vf", f"scale={width}:-2", "-f", "image2", str(target)],
                    limits=limits, cwd=str(out_dir), env={"PATH": os.environ.get("PATH", "")})
        if target.is_file() and target.stat().st_size > 0:
            return target
    raise ToolFailed("ffmpeg found no frame")
