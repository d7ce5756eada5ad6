"""The content commitment (承诺书) a publishing organisation accepts before its first submission.

The national rules make whoever supplies a resource answerable for it (谁提供谁负责) and ask each provider
for a written commitment. The node's text is versioned (``ContentCommitment``): hub operators and
superusers publish a new version; the first version is the text below until someone does. A publisher
of the organisation accepts the current version, which is kept with the time and the person
(``CommitmentAcceptance``), audited, and shown to reviewers beside every submission of the organisation."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.errors import CommitmentOutdatedError, CommitmentRequiredError
from catalog.models import CommitmentAcceptance, ContentCommitment
from exchange.audit import audit_record
from exchange.errors import InvalidInputError, PermissionDeniedError
from exchange.inputs import clean_text
from exchange.models import Organisation
from exchange.roles import Role, user_has_role

MAX_COMMITMENT_LENGTH = 20_000

DEFAULT_TEXT_ZH = """数字教育资源内容承诺书

本机构作为数字教育资源的提供方，郑重承诺：
一、所提交的资源坚持正确的政治方向和价值导向，符合国家法律法规和教育方针，不含违反宪法和法律、危害国家安全、损害国家荣誉和利益、宣扬民族仇恨和歧视、破坏民族团结、宣扬邪教和封建迷信、散布谣言、宣扬淫秽色情暴力等内容。
二、资源内容科学准确，符合课程标准和学生身心发展规律，表述规范，适用于所标注的学段、学科和年级，并及时更新过时内容。
三、资源坚持公益性，不含商业广告和不当营销内容。
四、本机构对所提交资源拥有合法权利或已取得权利人授权，如实填写版权与授权信息，不侵犯他人知识产权。
五、本机构建立内部审核制度，对所提供的资源先审后交，并对资源内容负责（谁提供谁负责）；资源上线后如发现问题，配合平台及时修改或下架。
六、本机构知悉平台对资源实行提交必审、上线必审、更新必审，接受平台的机器审核与人工审核及定期复审。"""

DEFAULT_TEXT_EN = """Content commitment for digital education resources

As a provider of digital education resources, this organisation undertakes that:
1. The resources it submits hold to the correct political direction and values, comply with national law and
   education policy, and contain nothing that violates the Constitution or the law, endangers national security,
   harms the nation's honour or interests, incites ethnic hatred or discrimination, undermines ethnic unity,
   promotes cults or superstition, spreads rumours, or promotes obscenity or violence.
2. Their content is scientifically accurate, follows the curriculum standards and the students' development,
   is expressed to standard, suits the stage, subject and grade it is labelled with, and is kept up to date.
3. The resources serve the public good and carry no commercial advertising or improper marketing.
4. The organisation holds the rights to what it submits or has the right holders' licence, states copyright and
   licensing truthfully and infringes nobody's intellectual property.
5. The organisation reviews its resources before submitting them and answers for their content (whoever supplies
   a resource is responsible for it); it corrects or withdraws a resource promptly when a problem is found.
6. It knows that the platform reviews every resource on submission, on going live and on every update, by machine
   and by people, and reviews published resources again periodically, and it accepts these reviews."""


def can_publish_commitment(user) -> bool:
    """Who sets the node's commitment text: hub operators and superusers."""
    return bool(getattr(user, "is_authenticated", False)
                and (getattr(user, "is_superuser", False) or user_has_role(user, Role.HUB_OPERATOR)))


def commitment_current() -> ContentCommitment:
    """The node's current commitment (the first version, with the text above, until one is published)."""
    current = ContentCommitment.objects.order_by("-version").first()
    if current is not None:
        return current
    try:
        with transaction.atomic():
            return ContentCommitment.objects.create(version=1, text_zh=DEFAULT_TEXT_ZH, text_en=DEFAULT_TEXT_EN,
                                                    created_at=timezone.now())
    except IntegrityError:  # another request created it meanwhile
        return ContentCommitment.objects.get(version=1)


@transaction.atomic
def commitment_publish(*, user, text_zh: str, text_en: str) -> ContentCommitment:
    """Publish a new version of the commitment. Raises PermissionDeniedError unless ``can_publish_commitment``.
    Organisations that accepted an earlier version stay accepted (the version they accepted is shown)."""
    if not can_publish_commitment(user):
        raise PermissionDeniedError("Only hub operators and superusers set the content commitment.")
    text_zh = clean_text(text_zh, field="text_zh", max_length=MAX_COMMITMENT_LENGTH)
    text_en = clean_text(text_en, field="text_en", max_length=MAX_COMMITMENT_LENGTH)
    problems = {name: ["This field is required."] for name, text in (("text_zh", text_zh), ("text_en", text_en))
                if not text}
    if problems:
        raise InvalidInputError("The commitment needs its Chinese and English text.", details=problems)
    latest = ContentCommitment.objects.select_for_update().order_by("-version").first() or commitment_current()
    commitment = ContentCommitment.objects.create(version=latest.version + 1, text_zh=text_zh, text_en=text_en,
                                                  created_by=user, created_at=timezone.now())
    audit_record(action="commitment.publish", actor=user, object_type="commitment", object_id=commitment.version,
                 data={"version": commitment.version})
    return commitment


def _publishing_organisation(user) -> Organisation:
    org = getattr(user, "organisation", None)
    if not user_has_role(user, Role.PUBLISHER) or org is None or org.kind not in (
            Organisation.Kind.PUBLISHER, Organisation.Kind.SCHOOL):
        raise PermissionDeniedError("Only publishers (of a publisher or school organisation) accept the commitment.")
    return org


@transaction.atomic
def commitment_accept(*, user, version: int) -> CommitmentAcceptance:
    """A publisher accepts the commitment ``version`` (the current one, which they read) for their
    organisation. Idempotent. Raises CommitmentOutdatedError for any other version."""
    org = _publishing_organisation(user)
    current = commitment_current()
    if version != current.version:
        raise CommitmentOutdatedError(details={"version": version, "current": current.version})
    acceptance = CommitmentAcceptance.objects.filter(organisation=org, commitment=current).first()
    if acceptance is not None:
        return acceptance
    acceptance = CommitmentAcceptance.objects.create(
        organisation=org, commitment=current, accepted_by=user,
        accepted_by_name=(user.display_name or user.username)[:150], accepted_at=timezone.now())
    audit_record(action="commitment.accept", actor=user, object_type="organisation", object_id=org.pk,
                 data={"version": current.version, "organisation": org.name})
    return acceptance


def commitment_acceptance_of(organisation: Organisation | None) -> CommitmentAcceptance | None:
    """The organisation's latest acceptance (any version), or None."""
    if organisation is None:
        return None
    return (CommitmentAcceptance.objects.filter(organisation=organisation).select_related("commitment")
            .order_by("-commitment__version", "-accepted_at").first())


def commitment_require(organisation: Organisation | None) -> CommitmentAcceptance:
    """The acceptance a submission of ``organisation``'s resource stands on. Raises CommitmentRequiredError
    when the organisation never accepted the commitment."""
    acceptance = commitment_acceptance_of(organisation)
    if acceptance is None:
        raise CommitmentRequiredError(details={"version": commitment_current().version})
    return acceptance
