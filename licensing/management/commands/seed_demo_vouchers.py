"""Fund the demo schools and give the demo school a purchase policy, so ``make run`` shows the whole
purchase flow: a teacher's allowance, a purchase waiting for the school administrator's approval, and
the approval. Idempotent: a school that already has vouchers is not funded again, a policy already set
is kept."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from exchange.models import Organisation, User
from exchange.roles import Role
from licensing.models import SchoolPurchasePolicy, VoucherAccount
from licensing.services import voucher_account_ensure, vouchers_fund

#: Vouchers per student the demo province gives each demo school.
DEMO_PER_STUDENT = 2
#: The demo school's policy: each teacher may spend this much per term; purchases above the threshold wait.
DEMO_TEACHER_ALLOWANCE = 60
DEMO_APPROVAL_THRESHOLD = 15


class Command(BaseCommand):
    help = "Fund the demo schools' voucher accounts and set the demo school's purchase policy (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        funder = User.objects.filter(username="province_admin").first()
        if funder is None:
            self.stderr.write("No demo province administrator: run seed_demo first.")
            return
        schools = Organisation.objects.filter(kind=Organisation.Kind.SCHOOL, members__username__in=(
            "teacher", "teacher_rural", "school_admin")).distinct()
        for school in schools:
            account = voucher_account_ensure(school=school)
            if VoucherAccount.objects.get(pk=account.pk).balance == 0 and school.student_count > 0:
                vouchers_fund(actor=funder, school=school, per_student=DEMO_PER_STUDENT, memo="demo funding")
                self.stdout.write(f"funded {school.name}: {DEMO_PER_STUDENT} per student")
            if school.members.filter(groups__name=Role.SCHOOL_ADMIN).exists():
                SchoolPurchasePolicy.objects.get_or_create(school=school, defaults={
                    "teacher_allowance": DEMO_TEACHER_ALLOWANCE, "approval_threshold": DEMO_APPROVAL_THRESHOLD,
                    "updated_at": timezone.now()})
        User.objects.filter(username="school_admin", email="").update(email="school_admin@demo.exchange.invalid")
