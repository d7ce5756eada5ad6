def test_healthz(client):
    """/healthz answers without touching any backend."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
