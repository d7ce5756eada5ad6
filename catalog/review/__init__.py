"""Content review as the national rules require it (教科信厅〔2024〕1号): every change reviewed (revisions of
published resources), machine findings beside the human decision on seven dimensions, a province's
two-person rule, the provider's content commitment, periodic re-review, and every version kept.

``ReviewSubject`` — the content under review — is what ``CATALOG_APPROVAL_CHECKS`` receive."""

from catalog.review.subject import FileFacts, ReviewSubject, prereview_content_for_revision

__all__ = ["FileFacts", "ReviewSubject", "prereview_content_for_revision"]
