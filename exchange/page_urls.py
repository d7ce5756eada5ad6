"""Routes of the web pages (included at the root by ``exchange.urls``). The views live beside the
services they call; each one's docstring names its permission.

    /                                   → /search                               public
    /search                             teacher search                          public
    /resources/<id>                     resource page                           public (published) / editors, reviewers
    /resources/<id>/files/<f>/preview   inline preview                          decide(preview) / editors, reviewers
    /resources/<id>/cover               cover image                             decide(preview) / editors, reviewers
    /resources/<id>/files/<f>/pages/<n> page thumbnail (after 1: whole file)    decide(preview) (+ download) / editors…
    /resources/<id>/download  (POST)    start a download                        signed in + decide(download)
    /resources/<id>/purchase  (POST)    buy a grant                             teacher, school admin
    /resources/<id>/takedown            file a takedown notice                  publisher, province admin, hub operator
    /me/downloads                       my downloads                            signed in
    /me/school                          school vouchers, allowance, requests    teacher, school admin
    /me/school/policy (POST)            allowance per term, approval threshold  school admin
    /me/school/allowances (POST)        one teacher's allowance this term       school admin
    /me/school/requests/<id> (POST)     approve or reject a purchase request    school admin
    /resources/<id>/rate      (POST)    rate it, with a comment                 teacher
    /resources/<id>/remix     (POST)    a draft derived from it (lineage)       publisher, teacher sharing as school
    /publish/feedback                   teachers' ratings of our resources      publisher
    /review/ratings/<id>      (POST)    hide or show a comment                  reviewer (of the province)
    /me/collections …                   备课包: list, new, add a resource,       teacher, school admin
                                        import a package zip
    /me/collections/<id>                a 备课包, its package zip and purchase  owner / school / anybody (visibility)
    /me/feed                            新资源: feed, follows, Atom token,      teacher, school admin
                                        e-mail digest
    /me/lessons/ …                      分享我的课: my shared lessons, upload,   teacher of a school that consented
                                        edit (as the school, same review)       (others: the reason, 403)
    /resources/<id>/history             versions (decisions: editors, reviewers) public (published) / editors, reviewers
    /publish/ …                         publisher pages, edit and revisions     publisher
    /publish/commitment                 the content commitment, accepting it    publisher
    /review/ …                          review queue, decisions, re-review,     reviewer (due list, policy: + province admin)
                                        re-checks of the negative list
    /hub/commitment                     publish a new commitment text           hub operator, superuser
    /takedowns/ …                       takedown notices                        reviewer, publisher, province admin, hub op.
    /schools/ …                         schools, voucher funding and ledger     school admin, province admin
    /province/ …                        local negative list, re-check report    province admin
    /hub/ …                             peers, enrolments, sync, statistics,    hub operator
                                        the national negative list
"""

from django.urls import path

from catalog.pages import browse, commitment, favourites, history, lessons, publishing, review
from catalog.pages import search as search_pages
from catalog.prereview import pages as prereview_pages
from catalog.ratings import pages as rating_pages
from exchange import views
from federation import negative_list_views
from federation import pages as federation_pages
from licensing import pages as licensing_pages
from spaces import views as spaces_views

urlpatterns = [
    path("", views.home, name="home"),
    path("search", search_pages.search_page, name="search"),
    path("browse", browse.browse_page, name="browse"),
    # resources
    path("resources/<uuid:resource_id>", licensing_pages.resource_page, name="resource-page"),
    path("resources/<uuid:resource_id>/files/<uuid:file_id>/preview", licensing_pages.file_preview,
         name="file-preview"),
    path("resources/<uuid:resource_id>/cover", licensing_pages.resource_cover, name="resource-cover"),
    path("resources/<uuid:resource_id>/files/<uuid:file_id>/pages/<int:page>", licensing_pages.file_page_image,
         name="file-page-image"),
    path("resources/<uuid:resource_id>/download", licensing_pages.resource_download, name="resource-download"),
    path("resources/<uuid:resource_id>/purchase", licensing_pages.resource_purchase, name="resource-purchase"),
    path("resources/<uuid:resource_id>/takedown", licensing_pages.takedown_new, name="takedown-new"),
    path("resources/<uuid:resource_id>/history", history.resource_history, name="resource-history"),
    path("resources/<uuid:resource_id>/rate", rating_pages.resource_rate, name="resource-rate"),
    path("resources/<uuid:resource_id>/remix", licensing_pages.resource_remix_page, name="resource-remix"),
    # teachers
    path("me/downloads", licensing_pages.my_downloads, name="my-downloads"),
    path("me/favourites", favourites.favourite_list_page, name="my-favourites"),
    path("resources/<uuid:resource_id>/favourite", favourites.favourite_toggle, name="favourite-toggle"),
    path("me/school", licensing_pages.my_school, name="my-school"),
    path("me/school/policy", licensing_pages.school_policy, name="school-policy"),
    path("me/school/allowances", licensing_pages.teacher_allowance, name="teacher-allowance"),
    path("me/school/requests/<int:request_id>", licensing_pages.purchase_request_decide,
         name="purchase-request-decide"),
    path("me/collections", spaces_views.collection_list_page, name="space-collections"),
    path("me/collections/add", spaces_views.collection_add_page, name="space-collection-add"),
    path("me/collections/import", spaces_views.collection_import_page, name="space-collection-import"),
    path("me/collections/<uuid:collection_id>", spaces_views.collection_page, name="space-collection"),
    path("me/collections/<uuid:collection_id>/package", spaces_views.collection_package_download,
         name="space-collection-package"),
    path("me/feed", spaces_views.feed_page, name="space-feed"),
    path("me/lessons/", lessons.lesson_list, name="lesson-list"),
    path("me/lessons/new", lessons.lesson_upload, name="lesson-upload"),
    path("me/lessons/<uuid:resource_id>/edit", lessons.lesson_edit, name="lesson-edit"),
    # publishers
    path("publish/", publishing.publisher_resources, name="publisher-resources"),
    path("publish/new", publishing.resource_upload, name="resource-upload"),
    path("publish/stats", licensing_pages.publisher_stats, name="publisher-stats"),
    path("publish/feedback", rating_pages.publisher_feedback, name="publisher-feedback"),
    path("publish/<uuid:resource_id>/submit", publishing.resource_submit, name="resource-submit"),
    path("publish/<uuid:resource_id>/publish", publishing.resource_publish, name="resource-publish"),
    path("publish/<uuid:resource_id>/withdraw", publishing.resource_withdraw, name="resource-withdraw"),
    path("publish/<uuid:resource_id>/edit", publishing.resource_edit, name="resource-edit"),
    path("publish/<uuid:resource_id>/revision/cancel", publishing.revision_cancel, name="revision-cancel"),
    path("publish/commitment", commitment.commitment_accept, name="commitment-accept"),
    # reviewers
    path("review/", review.review_queue, name="review-queue"),
    path("review/<uuid:resource_id>", review.review_detail, name="review-detail"),
    path("review/<uuid:resource_id>/approve", review.review_approve, name="review-approve"),
    path("review/<uuid:resource_id>/reject", review.review_reject, name="review-reject"),
    path("review/rechecks", prereview_pages.recheck_queue_page, name="recheck-queue"),
    path("review/rechecks/<int:item_id>", prereview_pages.recheck_resolve_page, name="recheck-resolve"),
    path("review/<uuid:resource_id>/rereview", review.review_rereview, name="review-rereview"),
    path("review/<uuid:resource_id>/revision-files/<uuid:file_id>", review.revision_file_preview,
         name="revision-file-preview"),
    path("review/due", review.review_due, name="review-due"),
    path("review/ratings/<int:rating_id>", rating_pages.rating_moderate, name="rating-moderate"),
    path("review/policy", review.review_policy, name="review-policy"),
    # takedowns
    path("takedowns/", licensing_pages.takedown_list, name="takedown-list"),
    path("takedowns/<int:notice_id>", licensing_pages.takedown_detail, name="takedown-detail"),
    # school and province administrators
    path("schools/", licensing_pages.school_list, name="school-list"),
    path("schools/<int:school_id>", licensing_pages.school_detail, name="school-detail"),
    path("province/negative-list", prereview_pages.local_list_page, name="province-negative-list"),
    path("province/negative-list/<uuid:entry_id>", prereview_pages.local_term_page, name="province-negative-term"),
    path("province/rechecks", prereview_pages.recheck_report_page, name="recheck-report"),
    path("province/rechecks/<int:run_id>", prereview_pages.recheck_run_page, name="recheck-run"),
    # hub operators
    path("hub/", federation_pages.hub_dashboard, name="hub-dashboard"),
    path("hub/enrolments/<str:node_id>/approve", federation_pages.enrolment_approve, name="enrolment-approve"),
    path("hub/stats", licensing_pages.national_stats, name="hub-stats"),
    path("hub/negative-list", negative_list_views.national_list_page, name="hub-negative-list"),
    path("hub/negative-list/<uuid:entry_id>", negative_list_views.national_term_page, name="hub-negative-term"),
    path("hub/commitment", commitment.commitment_edit, name="commitment-edit"),
]
