"""Teacher spaces API: collections (备课包) and their package zip, follows and the new-resources feed.
Views validate input, call one service or selector and serialize the result; who may act is
``spaces.permissions`` (through the services and selectors)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, OpenApiTypes, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import FormParser
from rest_framework.response import Response

from catalog.parsers import UploadMultiPartParser
from exchange.api import ExchangeAPIView, HasRole
from exchange.apis import client_ip
from exchange.errors import InvalidInputError, NotFoundError
from exchange.openapi import error_response
from exchange.pagination import paginate
from exchange.parsers import JSONParser
from exchange.roles import Role
from licensing.models import Grant
from spaces import packages, selectors, services
from spaces.errors import NotCollectionOwnerError, PackageTooLargeError
from spaces.models import Collection, CollectionItem, FeedItem, Follow
from spaces.permissions import can_edit_collection

HasSpace = HasRole.of(Role.TEACHER, Role.SCHOOL_ADMIN)

E400 = error_response("Invalid input", ("invalid_input", "The request is not valid.", {"title": ["Required."]}))
E401 = error_response("Not signed in", ("not_authenticated", "Authentication credentials were not provided.", None))
E403 = error_response("Not allowed", ("not_collection_owner", "Only the collection's owner may change it.", None),
                      ("permission_denied", "You do not have permission to perform this action.", None))
E404 = error_response("No such collection (or not shared with you)",
                      ("collection_not_found", "No such collection (or it is not shared with you).", None))
E409_PACKAGE = error_response(
    "Nothing to take or buy, or the total changed",
    ("package_empty", "You may take none of this package's resources.",
     {"items": [{"resource": "3f0c…", "status": "refused", "reason": "outside_territory"}]}),
    ("package_price_changed", "The total to pay is not the one you confirmed; look at the package again.",
     {"total_price": 30, "confirmed": 20}),
    ("insufficient_vouchers", "The school's voucher balance is too low for this purchase.", None))


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise InvalidInputError(details=serializer.errors)
    return dict(serializer.validated_data)


def item_data(item: CollectionItem) -> dict[str, Any]:
    resource = item.resource
    return {"id": item.pk, "resource": str(resource.pk), "title": resource.title, "step": item.step,
            "position": item.position, "note": item.note, "origin": resource.origin_node,
            "status": resource.status}


def collection_data(collection: Collection, *, user: Any, items: bool = False) -> dict[str, Any]:
    data = {"id": str(collection.pk), "title": collection.title, "description": collection.description,
            "visibility": collection.visibility, "owner": collection.owner.get_username(),
            "editable": can_edit_collection(user, collection),
            "created_at": collection.created_at.isoformat(), "updated_at": collection.updated_at.isoformat()}
    if items:
        data["items"] = [item_data(item) for item in selectors.collection_items(collection=collection)]
    return data


COLLECTION_EXAMPLE = {"id": "6d1e0c1a-2b3c-4d5e-8f90-1a2b3c4d5e6f", "title": "七年级数学 有理数 第一课时",
                      "description": "", "visibility": "school", "owner": "teacher", "editable": True,
                      "created_at": "2026-09-01T08:00:00+08:00", "updated_at": "2026-09-01T08:00:00+08:00",
                      "items": [{"id": 1, "resource": "0b7c3f2e-5d1a-4c0e-9f1b-2a3c4d5e6f70",
                                 "title": "有理数 课件", "step": "新授", "position": 1, "note": "",
                                 "origin": "cn-44", "status": "published"}]}


class CollectionInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=4000, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Collection.Visibility.values, required=False)


class CollectionPatchSerializer(CollectionInputSerializer):
    title = serializers.CharField(max_length=200, required=False)


class CollectionListApi(ExchangeAPIView):
    """GET the signed-in teacher's collections (``?shared=1``: those others share with them — their school's
    and public ones); POST a new one. Permission: teacher or school admin."""

    permission_classes = [HasSpace]
    body_fields = {"post": CollectionInputSerializer}

    @extend_schema(operation_id="collections_list", responses={200: OpenApiTypes.OBJECT, 401: E401, 403: E403})
    def get(self, request):
        shared = request.query_params.get("shared") in ("1", "true")
        qs = (selectors.collection_list_shared(user=request.user) if shared
              else selectors.collection_list_mine(user=request.user)).select_related("owner")
        count, rows = paginate(qs, request.query_params)
        return Response({"count": count, "results": [collection_data(c, user=request.user) for c in rows]})

    @extend_schema(request=CollectionInputSerializer,
                   responses={201: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample(
                       "created", value=COLLECTION_EXAMPLE | {"items": []}, response_only=True)]),
                       400: E400, 401: E401, 403: E403},
                   examples=[OpenApiExample("new", request_only=True,
                                            value={"title": "七年级数学 有理数 第一课时", "visibility": "private"})])
    def post(self, request):
        data = _valid(CollectionInputSerializer, request.data)
        collection = services.collection_create(user=request.user, **data)
        return Response(collection_data(collection, user=request.user, items=True), status=status.HTTP_201_CREATED)


class CollectionDetailApi(ExchangeAPIView):
    """GET a collection with its items in lesson order; PATCH its title, description or visibility (private,
    school, public); DELETE it. Permission: viewing — its owner, its school's members when shared with the school,
    anybody when public (``can_view_collection``); changing — its owner (``can_edit_collection``)."""

    permission_classes = [permissions.AllowAny]
    body_fields = {"patch": CollectionPatchSerializer}

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample(
        "collection", value=COLLECTION_EXAMPLE, response_only=True)]), 404: E404})
    def get(self, request, collection_id):
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        return Response(collection_data(collection, user=request.user, items=True))

    @extend_schema(request=CollectionPatchSerializer, responses={200: OpenApiTypes.OBJECT, 400: E400, 401: E401,
                                                                  403: E403, 404: E404},
                   examples=[OpenApiExample("share with the school", request_only=True, value={"visibility": "school"})])
    def patch(self, request, collection_id):
        self.check_signed_in(request)
        data = _valid(CollectionPatchSerializer, request.data)
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        collection = services.collection_update(user=request.user, collection=collection, **data)
        return Response(collection_data(collection, user=request.user, items=True))

    @extend_schema(responses={204: None, 401: E401, 403: E403, 404: E404})
    def delete(self, request, collection_id):
        self.check_signed_in(request)
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        services.collection_delete(user=request.user, collection=collection)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def check_signed_in(self, request) -> None:
        if not request.user.is_authenticated:
            self.permission_denied(request)


class ItemInputSerializer(serializers.Serializer):
    resource = serializers.UUIDField()
    step = serializers.CharField(max_length=64, required=False, allow_blank=True)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True)


class OrderRowSerializer(serializers.Serializer):
    resource = serializers.UUIDField()
    step = serializers.CharField(max_length=64, required=False, allow_blank=True)


class OrderInputSerializer(serializers.Serializer):
    order = OrderRowSerializer(many=True)


class CollectionItemsApi(ExchangeAPIView):
    """POST a published resource (local or federated) into a lesson step of the collection; PUT the lesson
    order (every resource once, each with its step). Permission: the collection's owner."""

    permission_classes = [HasSpace]
    body_fields = {"post": ItemInputSerializer, "put": OrderInputSerializer}

    @extend_schema(request=ItemInputSerializer, responses={201: OpenApiTypes.OBJECT, 400: E400, 401: E401,
                                                            403: E403, 404: E404},
                   examples=[OpenApiExample("add", request_only=True, value={
                       "resource": "0b7c3f2e-5d1a-4c0e-9f1b-2a3c4d5e6f70", "step": "导入"})])
    def post(self, request, collection_id):
        data = _valid(ItemInputSerializer, request.data)
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        item = services.collection_item_add(user=request.user, collection=collection, resource_id=data["resource"],
                                            step=data.get("step", ""), note=data.get("note", ""))
        return Response(item_data(item), status=status.HTTP_201_CREATED)

    @extend_schema(request=OrderInputSerializer, responses={200: OpenApiTypes.OBJECT, 400: E400, 401: E401,
                                                             403: E403, 404: E404},
                   examples=[OpenApiExample("order", request_only=True, value={"order": [
                       {"resource": "0b7c3f2e-5d1a-4c0e-9f1b-2a3c4d5e6f70", "step": "导入"}]})])
    def put(self, request, collection_id):
        data = _valid(OrderInputSerializer, request.data)
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        services.collection_items_arrange(user=request.user, collection=collection,
                                          order=[dict(row) for row in data["order"]])
        return Response(collection_data(collection, user=request.user, items=True))


class CollectionItemApi(ExchangeAPIView):
    """DELETE one item of the collection. Permission: the collection's owner."""

    permission_classes = [HasSpace]

    @extend_schema(responses={204: None, 401: E401, 403: E403, 404: E404})
    def delete(self, request, collection_id, item_id):
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        if not can_edit_collection(request.user, collection):
            raise NotCollectionOwnerError()
        item = collection.items.filter(pk=item_id).first()
        if item is None:
            raise NotFoundError(details={"item": [str(item_id)]})
        services.collection_item_remove(user=request.user, collection=collection, resource_id=item.resource_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


PLAN_EXAMPLE = {"collection": "6d1e0c1a-2b3c-4d5e-8f90-1a2b3c4d5e6f", "title": "有理数 第一课时", "included": 1,
                "to_purchase": 1, "refused": 1, "total_price": 20, "items": [
                    {"resource": "0b7c…", "title": "有理数 课件", "step": "新授", "position": 1, "status": "included",
                     "reason": "open_licence", "message": "该资源采用开放许可协议，可免费使用。", "price": 0},
                    {"resource": "1c8d…", "title": "有理数 精品微课", "step": "练习", "position": 2,
                     "status": "purchase", "reason": "purchase_required", "message": "…", "price": 20},
                    {"resource": "2d9e…", "title": "外省试卷", "step": "作业", "position": 3, "status": "refused",
                     "reason": "outside_territory", "message": "…", "price": 0}]}


class CollectionPackageApi(ExchangeAPIView):
    """GET what the signed-in user may take of the collection: every item's licensing decision (included,
    to purchase with its price, refused with its reason) and the total to pay. POST: the package zip (the
    included items' files and ``imsmanifest.xml``, which lists the items left out and why); each included
    item counts as a download. Permission: signed in, and the collection visible to the user."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample(
        "plan", value=PLAN_EXAMPLE, response_only=True)]), 401: E401, 404: E404})
    def get(self, request, collection_id):
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        return Response(packages.package_plan(user=request.user, collection=collection).as_dict())

    @extend_schema(request=None, responses={(200, "application/zip"): OpenApiTypes.BINARY, 401: E401, 404: E404,
                                            409: E409_PACKAGE, 413: error_response(
                                                "Too large", ("package_too_large", "The lesson package is larger "
                                                              "than this node accepts.", {"max": 1073741824}))})
    def post(self, request, collection_id):
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        built = packages.package_build(user=request.user, collection=collection, ip=client_ip(request),
                                       base_url=request.build_absolute_uri("/"))
        handle = open(built.path, "rb")  # noqa: SIM115 - FileResponse closes it
        os.unlink(built.path)  # the open handle keeps the bytes until the response is sent
        response = FileResponse(handle, as_attachment=True, filename=built.filename, content_type="application/zip")
        response["X-Package-Left-Out"] = str(len(built.left_out))
        return response


class PurchaseInputSerializer(serializers.Serializer):
    confirmed_total = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    scope = serializers.ChoiceField(choices=["school", "personal"], required=False)  # as for one purchase


class CollectionPurchaseApi(ExchangeAPIView):
    """POST: buy every priced item of the package at once with the school's vouchers, for the total the
    teacher confirms (``confirmed_total``, as GET …/package showed it): all grants or none. Permission:
    teacher or school admin holding the spend right on their school's account (as for one purchase)."""

    permission_classes = [HasSpace]
    body_fields = {"post": PurchaseInputSerializer}

    @extend_schema(request=PurchaseInputSerializer, responses={201: OpenApiTypes.OBJECT, 400: E400, 401: E401,
                                                                403: E403, 404: E404, 409: E409_PACKAGE},
                   examples=[OpenApiExample("buy", request_only=True, value={"confirmed_total": 20,
                                                                             "scope": "school"})])
    def post(self, request, collection_id):
        data = _valid(PurchaseInputSerializer, request.data)
        collection = selectors.collection_get(user=request.user, collection_id=collection_id)
        grants = packages.package_purchase(user=request.user, collection=collection,
                                           confirmed_total=data["confirmed_total"],
                                           scope=data.get("scope") or Grant.Scope.SCHOOL)
        return Response({"grants": [{"id": g.pk, "resource": str(g.resource_id), "price": g.price,
                                     "ends_at": g.ends_at.isoformat()} for g in grants],
                         "total": sum(g.price for g in grants)}, status=status.HTTP_201_CREATED)


class PackageImportSerializer(serializers.Serializer):
    package = serializers.FileField()


class CollectionImportApi(ExchangeAPIView):
    """POST a package zip (multipart, member ``package``) made by any node: a new private collection of the
    resources this node knows (its own or synced), in the package's lesson order; the others are listed as
    ``unresolved``. Checked by the archive guards (entries, sizes, bombs). Permission: teacher or school admin."""

    permission_classes = [HasSpace]
    parser_classes = [JSONParser, UploadMultiPartParser, FormParser]
    body_fields = {"post": PackageImportSerializer}

    @extend_schema(request={"multipart/form-data": PackageImportSerializer},
                   responses={201: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample("imported", value={
                       "collection": "6d1e0c1a-2b3c-4d5e-8f90-1a2b3c4d5e6f", "title": "有理数 第一课时",
                       "added": ["0b7c3f2e-5d1a-4c0e-9f1b-2a3c4d5e6f70"],
                       "unresolved": [{"origin": "cn-11", "id": "…", "title": "…", "reason": "unknown_here"}],
                       "files_stored": 1}, response_only=True)]),
                       400: error_response("Not a package", ("package_invalid", "The file is not a lesson package "
                                                             "this node can import: there is no imsmanifest.xml.",
                                                             None),
                                           ("archive_bomb", "package.zip is a ZIP bomb.", None)),
                       401: E401, 403: E403,
                       413: error_response("Too large", ("package_too_large", "The lesson package is larger than "
                                                         "this node accepts.", None),
                                           ("archive_too_large", "package.zip holds too many entries.", None))})
    def post(self, request):
        upload = request.FILES.get("package")
        if upload is None:
            raise InvalidInputError(details={"package": ["A zip file."]})
        if upload.size > settings.SPACES_PACKAGE_MAX_BYTES:
            raise PackageTooLargeError(details={"max": settings.SPACES_PACKAGE_MAX_BYTES})
        fd, path = tempfile.mkstemp(prefix="package-in-", suffix=".zip", dir=settings.FILE_UPLOAD_TEMP_DIR)
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            result = packages.package_import(user=request.user, path=path, name="package.zip")
        finally:
            os.unlink(path)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


# --- follows and the feed -------------------------------------------------------------------------------------

class FollowInputSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=32, required=False, allow_blank=True)
    grade = serializers.CharField(max_length=32, required=False, allow_blank=True)
    edition = serializers.CharField(max_length=64, required=False, allow_blank=True)
    chapter = serializers.CharField(max_length=200, required=False, allow_blank=True)
    query = serializers.CharField(max_length=200, required=False, allow_blank=True)


def follow_data(follow: Follow) -> dict[str, Any]:
    return {"id": follow.pk, "subject": follow.subject, "grade": follow.grade, "edition": follow.edition,
            "chapter": follow.chapter, "query": follow.query, "created_at": follow.created_at.isoformat()}


class FollowListApi(ExchangeAPIView):
    """GET the signed-in teacher's follows; POST a new one: a subject/grade/edition/chapter (any of them) or a
    saved search (``query``). New matching resources, local or synced, appear in the feed. Permission: teacher
    or school admin."""

    permission_classes = [HasSpace]
    body_fields = {"post": FollowInputSerializer}

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 401: E401, 403: E403})
    def get(self, request):
        return Response({"results": [follow_data(f) for f in selectors.follow_list(user=request.user)]})

    @extend_schema(request=FollowInputSerializer, responses={201: OpenApiTypes.OBJECT, 400: E400, 401: E401,
                                                              403: E403},
                   examples=[OpenApiExample("chapter", request_only=True, value={
                       "subject": "数学", "grade": "七年级", "edition": "人教版", "chapter": "第一章 有理数"}),
                             OpenApiExample("saved search", request_only=True, value={"query": "有理数 微课"})])
    def post(self, request):
        data = _valid(FollowInputSerializer, request.data)
        follow = services.follow_create(user=request.user, **data)
        return Response(follow_data(follow), status=status.HTTP_201_CREATED)


class FollowDetailApi(ExchangeAPIView):
    """DELETE one of the signed-in teacher's follows. Permission: teacher or school admin (their own)."""

    permission_classes = [HasSpace]

    @extend_schema(responses={204: None, 401: E401, 403: E403, 404: E404})
    def delete(self, request, follow_id):
        if not services.follow_delete(user=request.user, follow_id=follow_id):
            raise NotFoundError(details={"follow": [str(follow_id)]})
        return Response(status=status.HTTP_204_NO_CONTENT)


def feed_item_data(item: FeedItem) -> dict[str, Any]:
    resource = item.resource
    return {"resource": str(resource.pk), "title": resource.title, "subject": resource.subject,
            "grade": resource.grade, "chapter": resource.chapter, "origin": resource.origin_node,
            "follow": item.follow_id, "created_at": item.created_at.isoformat()}


class FeedApi(ExchangeAPIView):
    """GET the signed-in teacher's new resources (新资源), newest first, paged. Permission: teacher or school
    admin."""

    permission_classes = [HasSpace]

    @extend_schema(responses={200: OpenApiTypes.OBJECT, 401: E401, 403: E403})
    def get(self, request):
        count, rows = paginate(selectors.feed_list(user=request.user), request.query_params)
        return Response({"count": count, "results": [feed_item_data(item) for item in rows]})


class FeedTokenApi(ExchangeAPIView):
    """POST: a new secret token for the Atom feed (returned once, with the feed's URL; the previous token stops
    working); DELETE: revoke it. Permission: teacher or school admin."""

    permission_classes = [HasSpace]

    @extend_schema(request=None, responses={201: OpenApiResponse(OpenApiTypes.OBJECT, examples=[OpenApiExample(
        "issued", value={"token": "…", "url": "https://node.example/feeds/…/atom"}, response_only=True)]),
        401: E401, 403: E403})
    def post(self, request):
        token = services.feed_token_issue(user=request.user)
        url = request.build_absolute_uri(f"/feeds/{token}/atom")
        response = Response({"token": token, "url": url}, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(responses={204: None, 401: E401, 403: E403})
    def delete(self, request):
        services.feed_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DigestInputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()


class FeedDigestApi(ExchangeAPIView):
    """PUT ``enabled``: whether new resources are also e-mailed as a digest (``manage.py send_feed_digests``).
    Permission: teacher or school admin."""

    permission_classes = [HasSpace]
    body_fields = {"put": DigestInputSerializer}

    @extend_schema(request=DigestInputSerializer, responses={200: OpenApiTypes.OBJECT, 400: E400, 401: E401,
                                                              403: E403},
                   examples=[OpenApiExample("on", request_only=True, value={"enabled": True})])
    def put(self, request):
        data = _valid(DigestInputSerializer, request.data)
        row = services.feed_digest_set(user=request.user, enabled=data["enabled"])
        return Response({"enabled": row.email_digest})
