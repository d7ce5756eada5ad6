"""Previews of stored files: covers, page thumbnails and a PDF rendition of office documents.

After a file's bytes are stored (an upload, an import, a remote file fetched after sync) a background job
(``catalog.jobs.preview_build``) renders them once per content (sha256): LibreOffice in headless mode turns
office documents into PDF, poppler's pdftoppm rasterises the first pages of a PDF, ffmpeg takes a video's
poster frame; every program runs bounded in time and memory (``catalog.previews.tools``). Renditions live
in the blob store under ``previews/`` and their state in ``FilePreview``. Where a program is missing the
preview fails with ``tool_missing`` and the node says so (``manage.py check``, ``/readyz``): nothing else
depends on previews. How much of a preview a user sees stays licensing's decision.
"""
