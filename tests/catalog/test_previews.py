"""Previews through the real programs: an uploaded DOCX and PPTX become a PDF (LibreOffice) and page thumbnails
(pdftoppm); a priced resource previews its first page only, whatever its format; search hits carry covers
only where the user may preview; hostile input (a damaged DOCX, a ZIP bomb dressed as a PPTX, a PDF that keeps
the rasteriser busy forever) ends in a recorded failure with its reason, within the deadline, leaving no process
behind; a node without LibreOffice says so."""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from PIL import Image
from pypdf import PdfReader
from rest_framework.test import APIClient

from catalog.models import FilePreview, Resource, ResourceFile
from catalog.previews import tools
from catalog.previews.services import preview_build, preview_key
from catalog.remote import remote_file_mark_available
from catalog.samplefiles import sample_file
from catalog.search.indexing import index_resources
from catalog.storage import get_blob_store
from tests.factories import METADATA, RIGHTS, ResourceFactory, store_file

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
needs_tools = pytest.mark.usefixtures("preview_tools")


def real(name: str, rtype: str) -> bytes:
    return sample_file(name, stage="初中", resource_type=rtype).body


def deposit(user, name: str, body: bytes):
    client = APIClient()
    client.force_authenticate(user=user)
    return client.post("/api/v1/resources", {
        "metadata": json.dumps(METADATA, ensure_ascii=False), "rights": json.dumps(RIGHTS, ensure_ascii=False),
        "files": [SimpleUploadedFile(name, body)]}, format="multipart")


def stored(sha256: str, name: str) -> bytes:
    with get_blob_store().open(preview_key(sha256, name)) as handle:
        return handle.read()


def png_width(body: bytes) -> int:
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "PNG"
        return image.width


@needs_tools
@pytest.mark.parametrize(("name", "rtype", "mime", "pages"), [
    ("教案.docx", "教案", DOCX, 1),
    ("课件.pptx", "课件", PPTX, 5),  # a title slide and four content slides
])
def test_an_uploaded_office_file_becomes_a_pdf_and_page_thumbnails(
        settings, users, django_capture_on_commit_callbacks, name, rtype, mime, pages):
    settings.CATALOG_PREVIEWS_AUTO = True
    with django_capture_on_commit_callbacks(execute=True):
        response = deposit(users["publisher"], name, real(name, rtype))
    assert response.status_code == 201, response.content
    file = Resource.objects.get(pk=response.json()["id"]).files.get()
    assert file.mime == mime
    preview = FilePreview.objects.get(sha256=file.sha256)
    assert (preview.status, preview.reason, preview.has_pdf, preview.has_cover) == ("ready", "", True, True)
    assert preview.page_count == pages
    rendition = PdfReader(io.BytesIO(stored(file.sha256, "document.pdf")))
    assert len(rendition.pages) == pages
    assert "示例" in rendition.pages[0].extract_text()  # the Chinese text survived the conversion
    assert png_width(stored(file.sha256, "cover.png")) == settings.CATALOG_PREVIEW_WIDTH
    assert all(png_width(stored(file.sha256, f"page-{n}.png")) == settings.CATALOG_PREVIEW_WIDTH
               for n in range(1, pages + 1))


@needs_tools
def test_previews_are_made_once_per_content(users):
    body = real("a.docx", "学案")
    one = ResourceFactory(publisher=users["publisher"].organisation, with_file=False)
    two = ResourceFactory(publisher=users["publisher"].organisation, with_file=False)
    file = store_file(one, "学案.docx", body, mime=DOCX)
    store_file(two, "同一份学案.docx", body, mime=DOCX)
    first = preview_build(sha256=file.sha256, mime=DOCX)
    again = preview_build(sha256=file.sha256, mime=DOCX)
    assert first.status == again.status == "ready"
    assert again.updated_at == first.updated_at  # not rendered a second time
    assert FilePreview.objects.filter(sha256=file.sha256).count() == 1


def three_page_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    for n in range(1, 4):
        pdf.add_page()
        pdf.set_font("helvetica", size=24)
        pdf.cell(0, 20, f"Page {n}")
    return bytes(pdf.output())


@needs_tools
@pytest.mark.parametrize(("name", "mime", "make"), [
    ("试卷.pdf", "application/pdf", three_page_pdf),
    ("课件.pptx", PPTX, lambda: real("课件.pptx", "课件")),
])
def test_a_priced_resource_previews_its_first_page_only(orgs, users, name, mime, make):
    resource = ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=5, with_file=False)
    file = store_file(resource, name, make(), mime=mime)
    assert preview_build(sha256=file.sha256, mime=mime).page_count >= 3
    teacher = Client()
    teacher.force_login(users["teacher"])  # may preview; must buy before downloading
    excerpt = teacher.get(reverse("file-preview", args=[resource.pk, file.pk]))
    assert excerpt.status_code == 200 and excerpt["Content-Type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(excerpt.content)).pages) == 1
    assert teacher.get(reverse("file-page-image", args=[resource.pk, file.pk, 1])).status_code == 200
    assert teacher.get(reverse("file-page-image", args=[resource.pk, file.pk, 2])).status_code == 403
    assert teacher.get(reverse("resource-cover", args=[resource.pk])).status_code == 200
    page = teacher.get(reverse("resource-page", args=[resource.pk])).content.decode()
    assert reverse("file-page-image", args=[resource.pk, file.pk, 1]) in page
    assert reverse("file-page-image", args=[resource.pk, file.pk, 2]) not in page

    owner = Client()
    owner.force_login(users["publisher"])  # its own resource: the whole file
    whole = owner.get(reverse("file-preview", args=[resource.pk, file.pk]))
    assert len(PdfReader(io.BytesIO(b"".join(whole.streaming_content if whole.streaming else [whole.content])))
               .pages) >= 3
    assert owner.get(reverse("file-page-image", args=[resource.pk, file.pk, 2])).status_code == 200


@needs_tools
def test_search_hits_carry_covers_where_the_user_may_preview(orgs, users, settings, tmp_path):
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    for_teachers = ResourceFactory(publisher=orgs["publisher"], title="封面测试 教案", with_file=False)
    public = ResourceFactory(publisher=orgs["publisher"], title="封面测试 课件", audience="public", with_file=False)
    bare = ResourceFactory(publisher=orgs["publisher"], title="封面测试 无文件", audience="public", with_file=False)
    for resource, name, rtype in ((for_teachers, "a.docx", "教案"), (public, "b.pdf", "试卷")):
        body = real(name, rtype)
        file = store_file(resource, name, body, mime=DOCX if name.endswith("docx") else "application/pdf")
        preview_build(sha256=file.sha256, mime=file.mime)
    index_resources(resource_ids=[str(r.pk) for r in (for_teachers, public, bare)])

    def covers(client) -> dict[str, str | None]:
        hits = client.get("/api/v1/search", {"q": "封面测试"}).json()["results"]
        return {hit["id"]: hit["cover"] for hit in hits}

    teacher = APIClient()
    teacher.force_authenticate(users["teacher"])
    assert covers(teacher) == {str(for_teachers.pk): f"/resources/{for_teachers.pk}/cover",
                               str(public.pk): f"/resources/{public.pk}/cover", str(bare.pk): None}
    # anonymous visitors may preview only what is for the public
    assert covers(APIClient()) == {str(for_teachers.pk): None, str(public.pk): f"/resources/{public.pk}/cover",
                                   str(bare.pk): None}
    assert Client().get(f"/resources/{for_teachers.pk}/cover").status_code == 403
    page = Client().get("/search", {"q": "封面测试"}).content.decode()
    assert f'src="/resources/{public.pk}/cover"' in page and f"/resources/{for_teachers.pk}/cover" not in page


# --- hostile input ---------------------------------------------------------------------------------------------

def pdf(*objects: bytes) -> bytes:
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


def endless_pdf() -> bytes:
    """One page whose 150 KB content stream inflates to millions of full-page fills: minutes of work for the
    rasteriser (it never finishes within any deadline a preview job has)."""
    packer = zlib.compressobj(9)
    content = packer.compress(b"0 0 m 595 842 l 0 842 l h f\n" * 3_000_000) + packer.flush()
    return pdf(b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream")


def zip_bomb_pptx() -> bytes:
    """A PPTX-shaped ZIP whose one slide inflates to 200 MB of zeros (a thousand times its compressed size)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats'
                                                '.org/package/2006/content-types"/>')
        with archive.open("ppt/slides/slide1.xml", "w", force_zip64=True) as slide:
            chunk = b"\0" * (1024 * 1024)
            for _ in range(200):
                slide.write(chunk)
    return out.getvalue()


def damaged_docx() -> bytes:
    body = real("a.docx", "教案")
    return body[: len(body) // 2]  # cut in the middle: no central directory


def processes_reading(path: Path) -> list[str]:
    """Command lines of live processes that mention ``path`` (a program the job should have killed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if str(path) in cmdline:
                found.append(cmdline)
    return found


@needs_tools
@pytest.mark.parametrize(("name", "mime", "make", "reason"), [
    ("坏的.docx", DOCX, damaged_docx, "damaged"),
    ("炸弹.pptx", PPTX, zip_bomb_pptx, "archive_bomb"),
    ("死循环.pdf", "application/pdf", endless_pdf, "timeout"),
])
def test_hostile_files_end_in_a_failure_state_not_a_hung_worker(orgs, users, settings, tmp_path, name, mime, make, reason):
    settings.CATALOG_PREVIEW_TIMEOUT_SECONDS = 5
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)  # where the job's work files (and the programs' inputs) live
    resource = ResourceFactory(publisher=orgs["publisher"], with_file=False)
    file = store_file(resource, name, make(), mime=mime)
    preview = preview_build(sha256=file.sha256, mime=mime)
    assert (preview.status, preview.reason) == ("failed", reason)
    assert not preview.has_cover and preview.page_count == 0
    assert processes_reading(tmp_path) == []  # the deadline killed the program and everything it started
    assert not get_blob_store().exists(preview_key(file.sha256, "cover.png"))
    teacher = Client()
    teacher.force_login(users["teacher"])
    assert teacher.get(reverse("resource-cover", args=[resource.pk])).status_code == 404


@needs_tools
def test_without_libreoffice_the_node_says_so_and_pdfs_still_preview(orgs, users, settings):
    settings.CATALOG_PREVIEW_SOFFICE = "no-such-libreoffice"
    resource = ResourceFactory(publisher=orgs["publisher"], with_file=False)
    docx = store_file(resource, "教案.docx", real("a.docx", "教案"), mime=DOCX)
    paper = store_file(resource, "试卷.pdf", real("b.pdf", "试卷"))
    failed = preview_build(sha256=docx.sha256, mime=DOCX)
    assert (failed.status, failed.reason) == ("failed", "tool_missing")
    assert preview_build(sha256=paper.sha256, mime="application/pdf").status == "ready"

    ready = Client().get("/readyz").json()
    assert ready["status"] == "ready" and ready["previews"]["soffice"] is False and ready["previews"]["ok"] is False
    out = io.StringIO()
    call_command("check", stdout=out, stderr=out)
    assert "catalog.W101" in out.getvalue()
    teacher = Client()
    teacher.force_login(users["teacher"])
    page = teacher.get(reverse("resource-page", args=[resource.pk])).content.decode()
    assert "LibreOffice" in page  # the file list says why the DOCX has no preview
    assert teacher.get(reverse("resource-cover", args=[resource.pk])).status_code == 200  # the PDF's cover


def test_previews_are_not_built_for_unpreviewable_types(orgs):
    resource = ResourceFactory(publisher=orgs["publisher"], with_file=False)
    file = store_file(resource, "notes.txt", "纯文本".encode(), mime="text/plain")
    preview = preview_build(sha256=file.sha256, mime="text/plain")
    assert (preview.status, preview.reason, preview.has_cover) == ("unsupported", "unsupported", False)


@needs_tools
def test_build_previews_fills_the_gaps_and_retries_after_libreoffice_is_installed(orgs, settings, capsys):
    resource = ResourceFactory(publisher=orgs["publisher"], with_file=False)
    docx = store_file(resource, "教案.docx", real("a.docx", "教案"), mime=DOCX)
    paper = store_file(resource, "试卷.pdf", real("b.pdf", "试卷"))
    settings.CATALOG_PREVIEW_SOFFICE = "no-such-libreoffice"
    call_command("build_previews")
    assert capsys.readouterr().out.strip() == "failed 1, ready 1"
    call_command("build_previews")
    assert capsys.readouterr().out.strip() == "nothing to do"  # a failure is not retried by itself
    settings.CATALOG_PREVIEW_SOFFICE = "soffice"  # installed since
    call_command("build_previews", "--again")
    assert capsys.readouterr().out.strip() == "ready 1"
    assert {p.sha256: p.status for p in FilePreview.objects.all()} == {docx.sha256: "ready", paper.sha256: "ready"}


@needs_tools
@pytest.mark.parametrize("wrapper", ["prlimit", "setrlimit in the child"])
def test_every_program_run_is_held_to_its_memory_limit(tmp_path, monkeypatch, wrapper):
    """A rasteriser allowed 8 MB of address space cannot even start; with room enough it renders."""
    if wrapper != "prlimit":  # a system without util-linux's prlimit: the fallback sets the limits itself
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "pdftoppm").symlink_to(tools.tool_path("pdftoppm"))
        monkeypatch.setenv("PATH", str(bin_dir))
    source = tmp_path / "paper.pdf"
    source.write_bytes(real("b.pdf", "试卷"))
    out = tmp_path / "out"
    out.mkdir()
    tight = tools.Limits(seconds=30, memory_bytes=8 * 1024 * 1024, output_bytes=64 * 1024 * 1024)
    with pytest.raises(tools.ToolFailed, match="pdftoppm exited"):
        tools.pdf_to_pngs(source, out_dir=out, pages=1, width=200, limits=tight)
    roomy = tools.Limits(seconds=30, memory_bytes=1024 * 1024 * 1024, output_bytes=64 * 1024 * 1024)
    assert len(tools.pdf_to_pngs(source, out_dir=out, pages=1, width=200, limits=roomy)) == 1


@needs_tools
def test_a_synced_file_gets_its_previews_when_its_bytes_arrive(
        orgs, settings, django_capture_on_commit_callbacks):
    """A remote resource's file is stored here only when first fetched from its origin (after sync); then
    its previews are rendered like an upload's."""
    settings.CATALOG_PREVIEWS_AUTO = True
    resource = ResourceFactory(publisher=orgs["publisher"], origin_node="cn-11", is_remote=True, with_file=False)
    body = real("remote.pptx", "课件")
    file = store_file(resource, "外省课件.pptx", body, mime=PPTX)  # the bytes, as federation stores them
    ResourceFile.objects.filter(pk=file.pk).update(available_locally=False)  # … before the row says so
    assert not FilePreview.objects.filter(sha256=file.sha256).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert remote_file_mark_available(sha256=file.sha256) == 1
    preview = FilePreview.objects.get(sha256=file.sha256)
    assert (preview.status, preview.has_pdf, preview.page_count) == ("ready", True, 5)


@needs_tools
@pytest.mark.parametrize("backend", ["local", "s3"])
def test_previews_work_on_either_store_and_a_lost_rendition_is_a_404(request, orgs, users, backend):
    store = request.getfixturevalue("s3_store") if backend == "s3" else get_blob_store()
    resource = ResourceFactory(publisher=orgs["publisher"], with_file=False)
    file = store_file(resource, "试卷.pdf", real("b.pdf", "试卷"))
    assert preview_build(sha256=file.sha256, mime="application/pdf").status == "ready"
    teacher = Client()
    teacher.force_login(users["teacher"])
    cover = teacher.get(reverse("resource-cover", args=[resource.pk]))
    assert cover.status_code == 200 and b"".join(cover.streaming_content).startswith(b"\x89PNG")
    store.delete(preview_key(file.sha256, "cover.png"))  # e.g. a bucket restored without its previews
    teacher.raise_request_exception = False
    assert teacher.get(reverse("resource-cover", args=[resource.pk])).status_code == 404
