"""Real, small documents for sample resources: what a teacher would open, not a few bytes of placeholder.

A lesson plan, study guide or exercise set is a DOCX (python-docx), courseware is a PPTX of a few slides
(python-pptx), a test paper is a PDF (fpdf2, with a CJK font found on the system: Noto Sans CJK from
Debian's fonts-noto-cjk), a micro-lecture is a short MP4 made by ffmpeg from its poster, or the poster
image alone (PNG, Pillow) where ffmpeg is absent. Each document is built for a (type, stage) pair and
cached for the run, so a catalogue of thousands of records holds a few dozen distinct files, and the
preview jobs (content-addressed) render each once. Legacy binary formats (DOC, PPT) cannot be written by
these libraries: such records get the OOXML equivalent.

Without a CJK font (or with ``EXCHANGE_SAMPLE_CJK_FONT`` set to an empty value or another font file) a PDF
falls back to the minimal placeholder PDF (text in its metadata only).
"""

from __future__ import annotations

import functools
import io
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from catalog.placeholders import placeholder_bytes

FONT_CANDIDATES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # collection index 2: Simplified Chinese
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)
KIND_OF_EXTENSION = {".docx": "docx", ".doc": "docx", ".pptx": "pptx", ".ppt": "pptx", ".pdf": "pdf",
                     ".mp4": "video", ".m4v": "video"}


@dataclass(frozen=True)
class SampleFile:
    name: str
    body: bytes


@functools.cache
def cjk_font() -> tuple[str, int] | None:
    """A CJK font file and its index in the collection, or None when none is installed."""
    override = os.environ.get("EXCHANGE_SAMPLE_CJK_FONT")
    if override is not None:
        return (override, 0) if override and os.path.isfile(override) else None
    for path, index in FONT_CANDIDATES:
        if os.path.isfile(path):
            return path, index
    return None


def _outline(stage: str, rtype: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """A title and sections (heading, lines) for a (stage, type) document, in Chinese."""
    level = stage or "初中"
    if rtype == "课件":
        return f"{level}课件示例：探究新知", [
            ("学习目标", ["理解本课的核心概念", "能用所学方法解决实际问题", "体会知识之间的联系"]),
            ("情境导入", ["观察生活中的现象，提出问题：为什么会这样？", "小组交流各自的猜想"]),
            ("新知探究", ["活动一：动手操作，记录数据", "活动二：归纳规律，形成结论", "例题精讲与变式练习"]),
            ("课堂小结", ["本节课我们学到了什么？", "还有哪些疑问？", "课后作业：完成练习册第 1—5 题"]),
        ]
    if rtype == "学案":
        return f"{level}导学案示例", [
            ("学习目标", ["1. 自主阅读教材，了解本课的主要内容。", "2. 通过合作探究，掌握重点知识。"]),
            ("自主预习", ["阅读课本相关内容，完成下列填空：", "（1）本课的关键概念是＿＿＿＿。",
                      "（2）它与上一课学过的内容有什么联系？＿＿＿＿"]),
            ("合作探究", ["问题一：请结合实例说明你的理解。", "问题二：小组讨论，归纳解题的一般步骤。"]),
            ("达标检测", ["1. 基础题：＿＿＿＿", "2. 提高题：＿＿＿＿", "3. 拓展题：联系生活，写一段话。"]),
        ]
    if rtype in ("习题", "试卷"):
        name = "单元测试卷" if rtype == "试卷" else "课后分层练习"
        return f"{level}{name}示例", [
            ("一、选择题（每小题 3 分，共 30 分）", ["1. 下列说法中，正确的是（　　）",
                                          "A. 甲　　B. 乙　　C. 丙　　D. 丁",
                                          "2. 根据题意，下列判断错误的是（　　）"]),
            ("二、填空题（每小题 4 分，共 20 分）", ["3. 请写出本单元学过的一个重要结论：＿＿＿＿。",
                                          "4. 由已知条件可以推出＿＿＿＿。"]),
            ("三、解答题（共 50 分）", ["5. 阅读材料，回答问题，并说明理由。（12 分）",
                                   "6. 联系生活实际，设计一个简单的方案。（14 分）"]),
        ]
    return f"{level}教学设计示例", [
        ("教学目标", ["知识与技能：理解并掌握本课的基本概念。", "过程与方法：经历观察、猜想、验证的过程。",
                  "情感态度与价值观：激发学习兴趣，培养合作意识。"]),
        ("教学重点与难点", ["重点：核心概念的理解与运用。", "难点：在新情境中灵活运用所学知识。"]),
        ("教学过程", ["一、创设情境，导入新课（5 分钟）", "二、合作探究，获取新知（20 分钟）",
                  "三、巩固练习，拓展提升（12 分钟）", "四、课堂小结，布置作业（8 分钟）"]),
        ("板书设计", ["课题 —— 核心概念 —— 方法步骤 —— 典型例题"]),
    ]


def _docx(title: str, sections: list[tuple[str, list[str]]]) -> bytes:
    from docx import Document

    document = Document()
    document.core_properties.title = title
    document.add_heading(title, level=1)
    for heading, lines in sections:
        document.add_heading(heading, level=2)
        for line in lines:
            document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pptx(title: str, sections: list[tuple[str, list[str]]]) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    cover = deck.slides.add_slide(deck.slide_layouts[0])
    cover.shapes.title.text = title
    cover.placeholders[1].text = "课件示例 · 资源交换平台"
    for heading, lines in sections:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        body.text = lines[0]
        for line in lines[1:]:
            body.add_paragraph().text = line
    deck.core_properties.title = title
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def _pdf(title: str, sections: list[tuple[str, list[str]]]) -> bytes:
    font = cjk_font()
    if font is None:
        return placeholder_bytes("sample.pdf", title)
    from fpdf import FPDF

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # its subsetter logs every glyph at INFO
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("courseware-exchange sample")
    pdf.add_font("cjk", fname=font[0], collection_font_number=font[1])
    pdf.add_page()
    pdf.set_font("cjk", size=18)
    pdf.multi_cell(0, 12, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=11)
    pdf.multi_cell(0, 8, "学校：＿＿＿＿　　班级：＿＿＿＿　　姓名：＿＿＿＿　　得分：＿＿＿＿",
                   new_x="LMARGIN", new_y="NEXT")
    for heading, lines in sections:
        pdf.ln(4)
        pdf.set_font("cjk", size=13)
        pdf.multi_cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=11)
        for line in lines:
            pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(6)
    return bytes(pdf.output())


def _poster(title: str) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 360), (31, 94, 140))
    draw = ImageDraw.Draw(image)
    font = cjk_font()
    big = ImageFont.truetype(font[0], 34, index=font[1]) if font else ImageFont.load_default()
    small = ImageFont.truetype(font[0], 20, index=font[1]) if font else ImageFont.load_default()
    draw.rectangle((24, 24, 616, 336), outline=(255, 255, 255), width=3)
    draw.text((48, 120), title if font else "Micro-lecture", font=big, fill=(255, 255, 255))
    draw.text((48, 190), "微课 · 约 5 分钟" if font else "about 5 minutes", font=small, fill=(220, 235, 245))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _video(poster: bytes) -> bytes | None:
    """A 3-second H.264 MP4 showing the poster, or None without ffmpeg (or when it fails)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    with tempfile.TemporaryDirectory(prefix="sample-video-") as work:
        still, target = Path(work) / "poster.png", Path(work) / "lecture.mp4"
        still.write_bytes(poster)
        try:
            subprocess.run(  # noqa: S603 - fixed program and arguments
                [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-loop", "1", "-i", str(still), "-t", "3",
                 "-r", "5", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(target)],
                check=True, timeout=120, stdin=subprocess.DEVNULL, capture_output=True)
        except (subprocess.SubprocessError, OSError):
            return None
        return target.read_bytes()


@functools.cache
def _built(kind: str, stage: str, rtype: str) -> tuple[str, bytes]:
    title, sections = _outline(stage, rtype)
    if kind == "docx":
        return ".docx", _docx(title, sections)
    if kind == "pptx":
        return ".pptx", _pptx(title, sections)
    if kind == "video":
        poster = _poster(f"{stage or ''}微课示例")
        video = _video(poster)
        return (".mp4", video) if video is not None else (".png", poster)
    return ".pdf", _pdf(title, sections)


def sample_file(file_name: str, *, stage: str, resource_type: str) -> SampleFile:
    """A real document for a sample record whose declared file is ``file_name`` (its extension picks the
    kind; the name keeps its stem and gets the extension of what was actually made)."""
    stem, extension = os.path.splitext(file_name)
    kind = KIND_OF_EXTENSION.get(extension.lower(), "pdf")
    made_extension, body = _built(kind, stage, resource_type)
    return SampleFile(name=(stem or "resource") + made_extension, body=body)
