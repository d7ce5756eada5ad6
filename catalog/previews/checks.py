"""``manage.py check`` says which preview programs this node lacks (a warning: the node works without them,
its files then get no cover, thumbnails or office rendition)."""

from __future__ import annotations

from typing import Any

from django.core.checks import Warning as CheckWarning

from catalog.previews.tools import tools_available

MISSING = {
    "soffice": ("catalog.W101", "LibreOffice (soffice) is not installed: office documents (DOCX, PPTX, DOC, PPT) "
                                "get no preview.", "Install Debian's libreoffice-writer-nogui and "
                                "libreoffice-impress-nogui, or set CATALOG_PREVIEW_SOFFICE."),
    "pdftoppm": ("catalog.W102", "poppler's pdftoppm is not installed: no page thumbnails or covers.",
                 "Install Debian's poppler-utils, or set CATALOG_PREVIEW_PDFTOPPM."),
    "ffmpeg": ("catalog.W103", "ffmpeg is not installed: videos get no poster frame.",
               "Install Debian's ffmpeg, or set CATALOG_PREVIEW_FFMPEG."),
}


def check_preview_tools(app_configs: Any = None, **kwargs: Any) -> list[CheckWarning]:
    return [CheckWarning(MISSING[name][1], hint=MISSING[name][2], id=MISSING[name][0])
            for name, present in tools_available().items() if not present]


def preview_status() -> dict[str, Any]:
    """For ``/readyz`` (informational, never makes the node unready): which preview programs are present."""
    tools = tools_available()
    return {"ok": all(tools.values()), **tools}
