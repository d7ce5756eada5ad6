"""Teachers' ratings and comments: once per teacher (a second rating replaces the first), 1–5, a Bayesian
average so three votes do not outrank three hundred, comments through the machine pre-review's negative
list (hard: refused; soft: held for a reviewer), reviewers hiding comments (audited), the publisher's
feedback, and search sorted by rating on both search backends."""

from __future__ import annotations

import pytest

from catalog.errors import CommentRefusedError, RatingNotAllowedError
from catalog.models import Rating, RatingSummary
from catalog.prereview.services import negative_term_create
from catalog.ratings.services import bayesian_score, rating_moderate, rating_set
from catalog.search import SearchRequest, search
from catalog.search.indexing import index_resources
from exchange.models import AuditEvent
from exchange.services import user_create
from tests.factories import ResourceFactory


@pytest.fixture
def resource(orgs):
    return ResourceFactory(publisher=orgs["publisher"])


def test_a_teacher_rates_once_and_may_change_the_rating(users, resource, api_as):
    client = api_as(users["teacher"])
    url = f"/api/v1/resources/{resource.pk}/ratings"
    assert client.put(url, {"stars": 2, "comment": "例题偏少"}, format="json").status_code == 200
    answer = client.put(url, {"stars": 4, "comment": "例题偏少，但讲解清楚"}, format="json")
    assert answer.status_code == 200 and answer.json()["stars"] == 4
    assert Rating.objects.filter(resource=resource).count() == 1
    summary = RatingSummary.objects.get(resource=resource)
    assert (summary.count, summary.total) == (1, 4)
    listed = api_as(None).get(url).json()
    assert listed["summary"]["count"] == 1 and listed["summary"]["mean"] == 4.0
    assert [r["comment"] for r in listed["results"]] == ["例题偏少，但讲解清楚"]
    assert client.get(url).json()["mine"]["stars"] == 4


@pytest.mark.parametrize("stars", [0, 6, -1, "five", None, 3.5])
def test_stars_are_one_to_five(users, resource, api_as, stars):
    answer = api_as(users["teacher"]).put(f"/api/v1/resources/{resource.pk}/ratings", {"stars": stars}, format="json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_input"
    assert not Rating.objects.exists()


def test_only_teachers_rate_and_only_published_resources(users, orgs, resource, api_as):
    url = f"/api/v1/resources/{resource.pk}/ratings"
    assert api_as(None).put(url, {"stars": 5}, format="json").status_code == 401
    answer = api_as(users["publisher"]).put(url, {"stars": 5}, format="json")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "rating_not_allowed"
    with pytest.raises(RatingNotAllowedError):
        rating_set(user=users["school_admin"], resource=resource, stars=5)
    draft = ResourceFactory(publisher=orgs["publisher"], status="draft")
    assert api_as(users["teacher"]).put(f"/api/v1/resources/{draft.pk}/ratings", {"stars": 5},
                                        format="json").status_code == 404  # a teacher does not see a draft


def test_three_fives_do_not_outrank_three_hundred_good_ratings(orgs, settings):
    """The Bayesian prior: 3 votes of 5 score below 300 votes averaging 4.5, and above no votes at all."""
    settings.CATALOG_RATING_PRIOR_WEIGHT, settings.CATALOG_RATING_PRIOR_MEAN = 10, 3.0
    few = bayesian_score(count=3, total=15)
    many = bayesian_score(count=300, total=1350)
    assert many > few > bayesian_score(count=0, total=0) == 3.0
    assert few < 5.0 and abs(many - 4.45) < 0.01


def test_search_sorts_by_the_bayesian_score(orgs, users, settings, search_backend):
    """Sort=rating on both search backends: the resource with many good ratings comes before the one with a
    few perfect ones, and unrated ones (the prior) sit between good and bad."""
    settings.CATALOG_RATING_PRIOR_WEIGHT = 5
    teachers = [user_create(username=f"t{i}", password=None, organisation=orgs["city_school"], roles=["teacher"])
                for i in range(12)]
    few, many, unrated, bad = (ResourceFactory(publisher=orgs["publisher"], title=f"有理数 课件 {n}")
                               for n in ("甲", "乙", "丙", "丁"))
    for teacher in teachers[:2]:
        rating_set(user=teacher, resource=few, stars=5)
    for i, teacher in enumerate(teachers):
        rating_set(user=teacher, resource=many, stars=5 if i % 4 else 4)
    for teacher in teachers[:6]:
        rating_set(user=teacher, resource=bad, stars=1)
    index_resources(resource_ids=[str(r.pk) for r in (few, many, unrated, bad)])
    page = search(request=SearchRequest(q="", sort="rating", page_size=10), user=None)
    order = [hit["id"] for hit in page["results"]]
    assert order == [str(many.pk), str(few.pk), str(unrated.pk), str(bad.pk)], order


def test_a_hard_negative_term_refuses_the_comment(users, resource, api_as):
    negative_term_create(actor=users["province_admin"], scope="local", term="代写论文", severity="hard")
    answer = api_as(users["teacher"]).put(f"/api/v1/resources/{resource.pk}/ratings",
                                          {"stars": 5, "comment": "加微信代写论文"}, format="json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "comment_refused"
    assert not Rating.objects.exists()
    with pytest.raises(CommentRefusedError):
        rating_set(user=users["teacher"], resource=resource, stars=5, comment="代写論文")  # traditional form too


def test_a_soft_term_holds_the_comment_for_a_reviewer(users, resource, api_as):
    negative_term_create(actor=users["province_admin"], scope="local", term="补习班", severity="soft")
    rating = rating_set(user=users["teacher"], resource=resource, stars=4, comment="适合补习班使用")
    assert rating.comment_status == "held"
    public = api_as(None).get(f"/api/v1/resources/{resource.pk}/ratings").json()
    assert public["results"] == []  # held: not shown to the public
    assert public["summary"]["count"] == 1  # the stars count
    seen = api_as(users["reviewer"]).get(f"/api/v1/resources/{resource.pk}/ratings").json()
    assert seen["results"][0]["comment_status"] == "held" and seen["results"][0]["findings"]
    shown = api_as(users["reviewer"]).post(f"/api/v1/ratings/{rating.pk}/moderate", {"action": "show"}, format="json")
    assert shown.status_code == 200 and shown.json()["comment_status"] == "visible"
    assert api_as(None).get(f"/api/v1/resources/{resource.pk}/ratings").json()["results"][0]["comment"] == "适合补习班使用"


def test_reviewers_of_the_province_hide_comments_audited(users, resource, api_as):
    rating = rating_set(user=users["teacher"], resource=resource, stars=1, comment="去某网站买答案")
    url = f"/api/v1/ratings/{rating.pk}/moderate"
    assert api_as(users["reviewer"]).post(url, {"action": "hide"}, format="json").status_code == 400  # no reason
    far = api_as(users["other_reviewer"]).post(url, {"action": "hide", "reason": "广告"}, format="json")
    assert far.status_code == 404 and far.json()["error"]["code"] == "rating_not_found"
    assert api_as(users["publisher"]).post(url, {"action": "hide", "reason": "差评"}, format="json").status_code == 403
    hidden = api_as(users["reviewer"]).post(url, {"action": "hide", "reason": "广告内容"}, format="json")
    assert hidden.status_code == 200 and hidden.json()["comment_status"] == "hidden"
    public = api_as(None).get(f"/api/v1/resources/{resource.pk}/ratings").json()
    assert public["results"] == [] and public["summary"]["count"] == 1
    event = AuditEvent.objects.filter(action="rating.comment_hide").get()
    assert event.data["reason"] == "广告内容" and event.actor_id == str(users["reviewer"].pk)
    # the publisher still sees it in the feedback, with its status
    feedback = api_as(users["publisher"]).get("/api/v1/publisher/feedback").json()
    assert [(r["comment"], r["comment_status"]) for r in feedback["results"]] == [("去某网站买答案", "hidden")]
    # a changed comment is reviewed afresh (not hidden forever, not shown without the pre-review)
    assert rating_set(user=users["teacher"], resource=resource, stars=2, comment="内容较浅").comment_status == "visible"
    assert rating_moderate(actor=users["reviewer"], rating_id=rating.pk, action="hide",
                           reason="重复").comment_status == "hidden"


def test_the_publisher_sees_feedback_on_their_own_resources_only(users, orgs, resource, api_as):
    other = ResourceFactory(publisher=orgs["other_publisher"])
    rating_set(user=users["teacher"], resource=resource, stars=5, comment="很好")
    rating_set(user=users["teacher"], resource=other, stars=3, comment="一般")
    mine = api_as(users["publisher"]).get("/api/v1/publisher/feedback").json()
    assert [r["comment"] for r in mine["results"]] == ["很好"]
    assert api_as(users["teacher"]).get("/api/v1/publisher/feedback").status_code == 403


def test_rating_through_the_resource_page(users, resource, client):
    client.force_login(users["teacher"])
    page = client.get(f"/resources/{resource.pk}").content.decode()
    assert 'id="rating-form"' in page
    client.post(f"/resources/{resource.pk}/rate", {"stars": "5", "comment": "课堂好用"})
    page = client.get(f"/resources/{resource.pk}").content.decode()
    assert "课堂好用" in page and 'id="rating-summary"' in page
    client.force_login(users["publisher"])
    assert "课堂好用" in client.get("/publish/feedback").content.decode()
