from tests.support import ServerProcess, claim, create_launch, register


def test_a_fan_claims_and_pays_over_http(server: ServerProcess) -> None:
    with server.admin() as admin, server.client() as anyone:
        launch = create_launch(admin, batch={"A": 3})
        fan = register(anyone)
        response = claim(anyone, launch["id"], fan["token"])
        assert response.status_code == 201, response.text
        assert response.json()["total"] == 1000
