"""Rights as people and machines read them: attribution text (TASL) and ODRL 2.2 JSON-LD."""

from __future__ import annotations

import datetime as dt

from catalog.models import Resource, RightsStatement
from licensing.attribution import attribution_for, licence_short_name, render_attribution
from licensing.odrl import NATIONWIDE, VOUCHER_UNIT


def loaded(resource) -> Resource:
    return Resource.objects.select_related("rights__license").get(pk=resource.pk)


def test_cc_attribution_names_title_author_source_and_licence(make_resource):
    resource = loaded(make_resource(license="CC-BY-NC-SA-4.0"))
    text = render_attribution(resource)
    source = f"http://127.0.0.1:8000/resources/{resource.pk}"
    assert text.zh == (f"《{resource.title}》，作者/权利人：本省出版社（2024），来源：{source}，许可协议：CC BY-NC-SA 4.0"
                       f"（https://creativecommons.org/licenses/by-nc-sa/4.0/）。")
    assert text.en == (f"“{resource.title}” by 本省出版社 (2024), source: {source}, licensed under CC BY-NC-SA 4.0 "
                       f"(https://creativecommons.org/licenses/by-nc-sa/4.0/).")
    assert '<a href="https://creativecommons.org/licenses/by-nc-sa/4.0/">CC BY-NC-SA 4.0</a>' in text.html_en


def test_public_domain_and_all_rights_reserved(make_resource):
    cc0 = render_attribution(loaded(make_resource(license="CC0-1.0")))
    assert "is in the public domain (CC0 1.0, https://creativecommons.org/publicdomain/zero/1.0/)" in cc0.en
    assert "CC0 1.0 公有领域贡献" in cc0.zh
    arr = render_attribution(loaded(make_resource(license="ALL-RIGHTS-RESERVED", price=3)))
    assert "© 2024 本省出版社. All rights reserved." in arr.en and "保留所有权利" in arr.zh
    # One full stop at the end, in every form.
    assert str(arr.html_en).endswith("All rights reserved.") and str(arr.html_zh).endswith("保留所有权利。")
    for text in (arr.zh, arr.en, str(arr.html_zh), str(arr.html_en)):
        assert not text.endswith(("..", "。。"))


def test_a_derived_work_names_its_source(make_resource):
    source = make_resource(license="CC-BY-4.0")
    derived = make_resource(license="CC-BY-4.0")
    RightsStatement.objects.filter(resource=derived).update(derived_from=source.pk)
    text = attribution_for(loaded(derived))
    assert text.en.endswith(f"; this work is adapted from “{source.title}”.")
    assert f"本作品改编自《{source.title}》" in text.zh


def test_html_attribution_escapes_the_title(make_resource):
    resource = make_resource(title="<script>alert(1)</script>")
    html = str(render_attribution(loaded(resource)).html_zh)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_short_names():
    from catalog.models import License

    assert licence_short_name(License(id="CC-BY-ND-4.0", name="x")) == "CC BY-ND 4.0"
    assert licence_short_name(License(id="PDM-1.0", name="x")) == "PDM 1.0"
    assert licence_short_name(License(id="ALL-RIGHTS-RESERVED", name="All rights reserved")) == "All rights reserved"


def test_attribution_api(api, make_resource):
    resource = make_resource()
    body = api.get(f"/api/v1/resources/{resource.pk}/attribution").json()
    assert set(body) == {"zh-Hans", "en", "html"} and "CC BY 4.0" in body["en"]


def test_odrl_policy_of_a_priced_regional_resource(api, priced, province):
    RightsStatement.objects.filter(resource=priced).update(free_for=["rural", "remote"],
                                                           embargo_until=dt.date(2024, 9, 1))
    response = api.get(f"/api/v1/resources/{priced.pk}/rights")
    assert response.status_code == 200 and response["Content-Type"] == "application/ld+json"
    policy = response.json()
    assert policy["@context"][0] == "http://www.w3.org/ns/odrl.jsonld"
    assert policy["@type"] == "Offer"
    assert policy["uid"] == f"http://127.0.0.1:8000/api/v1/resources/{priced.pk}/rights"
    assert policy["target"]["uid"] == f"urn:uuid:{priced.pk}"
    assert policy["assigner"]["vcard:fn"] == "本省出版社"
    paid, *free = policy["permission"]
    assert paid["action"] == "use" and "assignee" not in paid
    assert paid["constraint"][0] == {"leftOperand": "spatial", "operator": "isAnyOf",
                                     "rightOperand": [{"@id": f"urn:gbt2260:{province}"}]}
    assert {"leftOperand": "dateTime", "operator": "gteq",
            "rightOperand": {"@value": "2024-09-01", "@type": "xsd:date"}} in paid["constraint"]
    assert {"leftOperand": "recipient", "operator": "isA",
            "rightOperand": {"@id": "urn:cn-edu-exchange:audience:teachers"}} in paid["constraint"]
    [attribute, compensate] = paid["duty"]
    assert attribute == {"action": "attribute"}
    [pay] = compensate["action"]
    assert pay["rdf:value"] == {"@id": "odrl:compensate"}
    assert pay["refinement"] == [{"leftOperand": "payAmount", "operator": "eq",
                                  "rightOperand": {"@value": "5", "@type": "xsd:decimal"}, "unit": VOUCHER_UNIT}]
    assert [rule["assignee"] for rule in free] == [
        {"@type": "PartyCollection", "uid": "urn:cn-edu-exchange:school-category:remote"},
        {"@type": "PartyCollection", "uid": "urn:cn-edu-exchange:school-category:rural"}]
    assert all(rule["duty"] == [{"action": "attribute"}] for rule in free)  # free: no compensate duty
    assert {p["action"] for p in policy["prohibition"]} == {"derive", "cc:CommercialUse"}


def test_odrl_policy_of_an_open_share_alike_resource(api, make_resource):
    resource = make_resource(license="CC-BY-SA-4.0", audience="public")
    policy = api.get(f"/api/v1/resources/{resource.pk}/rights").json()
    assert [p["action"] for p in policy["permission"]] == ["use", "reproduce", "distribute", "derive"]
    for rule in policy["permission"]:
        assert rule["constraint"] == [{"leftOperand": "spatial", "operator": "eq", "rightOperand": {"@id": NATIONWIDE}}]
        assert rule["duty"] == [{"action": "attribute"}, {"action": "cc:ShareAlike"}]
        assert rule["target"] == f"urn:uuid:{resource.pk}"
    assert "prohibition" not in policy
    assert policy["dc:license"] == "https://creativecommons.org/licenses/by-sa/4.0/"


def test_rights_of_unpublished_resources_are_not_shown(api, make_resource):
    draft = make_resource(status=Resource.Status.DRAFT)
    assert api.get(f"/api/v1/resources/{draft.pk}/rights").status_code == 404
