//! `GET /v1/organizations/{organizationId}/deliveries/{deliveryId}`: one delivery by its id, as
//! the delivery log shows it; 404 for an unknown or malformed id and for another organization's.

use super::*;
use herald_tests::TestApp;

async fn one_delivery_is_found_by_its_id_as_the_log_shows_it(backend: Backend) {
    let d = DeliveryApp::spawn(backend).await;
    let receiver = Receiver::start(&[(500, None)]).await;
    webhook(&d, &receiver.url).await;
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let listed = delivery_of(&d, &event).await;
    let id = listed["id"].as_str().unwrap_or_default().to_owned();
    let res = d
        .app
        .admin(Method::GET, &d.app.path(&format!("/deliveries/{id}")), None)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(res.body["status"], true);
    assert_eq!(res.body["data"], listed, "the same view as the log's");
    assert_eq!(res.body["data"]["status"], "sent");
    assert_eq!(res.body["data"]["attempts"], 2);
    assert_eq!(res.body["data"]["eventId"], event.as_str());

    // Unknown, malformed, and another organization's: 404, the same answer.
    let other = TestApp::on_state(backend, d.app.state.clone(), d.app.calls.clone()).await;
    let unknown = Uuid::now_v7();
    for (app, path) in [
        (&d.app, d.app.path(&format!("/deliveries/{unknown}"))),
        (&d.app, d.app.path("/deliveries/not-a-uuid")),
        (&other, other.path(&format!("/deliveries/{id}"))),
    ] {
        let res = app.admin(Method::GET, &path, None).await;
        assert_error(&res, 404, 3001, None);
    }
    // And through another organization's path: 404 too (never its data).
    let res = other
        .call(
            Method::GET,
            &d.app.path(&format!("/deliveries/{id}")),
            Some(&other.admin_token),
            None,
        )
        .await;
    assert_error(&res, 404, 3001, None);
}

herald_tests::on_both_backends!(one_delivery_is_found_by_its_id_as_the_log_shows_it);
