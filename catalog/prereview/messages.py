"""The reason codes of the pre-review and their messages, in Chinese and English.

Each code has one message template (Chinese, the source language; English in the ``en`` catalogue). A
finding stores both renderings, so it reads the same later whatever language a reader uses.
"""

from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop

from catalog.prereview.content import HARD, SOFT, Finding

#: code → (severity, message template). A negative-list finding takes its entry's severity.
CODES: dict[str, tuple[str, str]] = {
    "negative_term": (HARD, gettext_noop("“%(field_label)s”含负面清单词语“%(term)s”（%(category)s）：%(snippet)s")),
    "copyright_conflict_file": (HARD, gettext_noop("文件“%(file)s”与已发布资源《%(other_title)s》（权利人：%(other_holder)s）的文件完全相同，"
                                         "而本资源的权利人是“%(holder)s”。")),
    "copyright_conflict_text": (HARD, gettext_noop("文件“%(file)s”的文字与已发布资源《%(other_title)s》（权利人：%(other_holder)s）"
                                         "几乎相同（相似度约 %(similarity)s%%），而本资源的权利人是“%(holder)s”。")),
    "metadata_missing": (HARD, gettext_noop("缺少必备元数据“%(field_label)s”%(condition)s。")),
    "metadata_recommended": (SOFT, gettext_noop("建议填写“%(field_label)s”。")),
    "vocabulary_unknown": (HARD, gettext_noop("“%(field_label)s”的值“%(value)s”不在规范词表中。")),
    "edition_unknown": (HARD, gettext_noop("教材版本“%(value)s”不在规范词表中。")),
    "volume_unknown": (HARD, gettext_noop("册次“%(value)s”不在规范词表中。")),
    "subject_stage_mismatch": (HARD, gettext_noop("学科“%(subject)s”不在学段“%(stage)s”开设。")),
    "grade_stage_mismatch": (HARD, gettext_noop("年级“%(grade)s”不属于学段“%(stage)s”。")),
    "edition_subject_mismatch": (SOFT, gettext_noop("词表中没有“%(edition)s”的%(stage)s%(subject)s教材，请核实教材版本。")),
    "volume_subject_mismatch": (HARD, gettext_noop("册次“%(volume)s”属于学科“%(volume_subject)s”，与资源学科“%(subject)s”不符。")),
    "volume_stage_mismatch": (SOFT, gettext_noop("册次“%(volume)s”通常不用于学段“%(stage)s”，请核实。")),
    "textbook_unknown": (SOFT, gettext_noop("对应教材“%(value)s”不在教材目录中。")),
    "textbook_mismatch": (HARD, gettext_noop("对应教材《%(textbook)s》的%(field_label)s是“%(expected)s”，与资源的“%(value)s”不符。")),
    "file_type_not_allowed": (HARD, gettext_noop("文件“%(file)s”的类型（%(mime)s）不在允许范围内。")),
    "file_too_large": (HARD, gettext_noop("文件“%(file)s”超过大小上限。")),
    "file_not_available": (SOFT, gettext_noop("文件“%(file)s”不在本节点，未能检查其内容。")),
    "pdf_javascript": (HARD, gettext_noop("PDF 文件“%(file)s”含有 JavaScript 脚本。")),
    "pdf_launch_action": (HARD, gettext_noop("PDF 文件“%(file)s”含有启动外部程序的动作。")),
    "pdf_auto_action": (SOFT, gettext_noop("PDF 文件“%(file)s”含有打开时自动执行的动作。")),
    "pdf_embedded_file": (SOFT, gettext_noop("PDF 文件“%(file)s”内嵌了其他文件。")),
    "pdf_xfa_form": (SOFT, gettext_noop("PDF 文件“%(file)s”含有 XFA 表单（可能带脚本）。")),
    "pdf_not_fully_examined": (SOFT, gettext_noop("PDF 文件“%(file)s”对象过多，只检查了一部分。")),
    "office_macro": (HARD, gettext_noop("Office 文件“%(file)s”含有宏。")),
    "xml_dtd_refused": (SOFT, gettext_noop("文件“%(file)s”的部分内容声明了 DTD，未予读取。")),
    "text_extraction_failed": (SOFT, gettext_noop("未能读取文件“%(file)s”的文字（%(reason)s），其内容未经机器检查。")),
    "text_truncated": (SOFT, gettext_noop("文件“%(file)s”文字过长，只检查了前 %(chars)s 个字符。")),
}

class Lazy(str):
    """A parameter that is itself a message to translate (a field label)."""


FIELD_LABELS: dict[str, str] = {
    "title": gettext_noop("题名"), "description": gettext_noop("简介"), "keywords": gettext_noop("关键词"), "chapter": gettext_noop("章"),
    "section": gettext_noop("节"), "stage": gettext_noop("学段"), "subject": gettext_noop("学科"), "grade": gettext_noop("年级"),
    "edition": gettext_noop("教材版本"), "volume": gettext_noop("册次"), "resource_type": gettext_noop("资源类型"), "language": gettext_noop("语种"),
    "textbook_id": gettext_noop("对应教材"), "rights.holder": gettext_noop("权利人"), "rights.license": gettext_noop("许可协议"),
    "rights.year": gettext_noop("版权年份"), "files": gettext_noop("资源文件"),
}

EXTRACTION_REASONS: dict[str, str] = {
    "encrypted": gettext_noop("文件已加密"), "damaged": gettext_noop("文件已损坏或无法解析"), "archive_refused": gettext_noop("压缩结构超出限制"),
    "timeout": gettext_noop("读取超时"), "too_large": gettext_noop("读取所需内存超出限制"), "worker_failed": gettext_noop("读取进程异常退出"),
}


def _render(template: str, params: dict[str, Any], language: str) -> str:
    with translation.override(language):
        localised = {key: gettext(value) if isinstance(value, Lazy) else str(value) if isinstance(value, Promise)
                     else value for key, value in params.items()}
        return gettext(template) % localised


def field_label(field: str) -> str:
    if field.startswith("file:"):
        return field[5:]
    return Lazy(FIELD_LABELS.get(field, field))


def finding(code: str, *, field: str, severity: str | None = None, params: dict[str, Any] | None = None,
            detail: dict[str, Any] | None = None) -> Finding:
    """A finding with both renderings of its message. ``params`` fill the template (missing ones are
    taken from ``detail``); ``severity`` overrides the code's own (a negative-list entry's)."""
    default_severity, template = CODES[code]
    values: dict[str, Any] = {"field_label": field_label(field), **(detail or {}), **(params or {})}
    return Finding(code=code, severity=severity or default_severity, field=field,
                   message_zh=_render(template, values, "zh-hans"), message_en=_render(template, values, "en"),
                   detail=dict(detail or {}))
