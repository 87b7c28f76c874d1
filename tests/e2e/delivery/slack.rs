//! Slack deliveries on both backends: Block Kit, `Retry-After`, an archived channel, and the
//! bot's `chat.postMessage` with its fallback to the incoming webhook.

use super::*;

async fn slack_gets_block_kit_honours_retry_after_and_an_archived_channel_disables_it(
    backend: Backend,
) {
    let d = DeliveryApp::spawn(backend).await;
    let notification = create_notification(&d, json!({"type": "slack", "events": {"buildCreated": true}, "setup": {"slack": {"code": "good-code", "redirectUri": "https://app.example.com/cb"}}})).await;
    d.slack.answer(&[(429, "rate_limited", Some(0))]);
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let posts = d.slack.posts();
    assert_eq!(posts.len(), 2, "429, then delivered");
    assert_eq!(
        posts[1]["text"],
        "New build of Field Service\nGrace uploaded Field Service 4.2.0 (build 1187) for iOS."
    );
    assert_eq!(posts[1]["blocks"][0]["type"], "header");
    assert_eq!(
        posts[1]["blocks"][2]["elements"][0]["url"],
        "https://console.example.com/b/1187"
    );
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 2));

    d.slack.answer(&[(404, "channel_is_archived", None)]);
    let (_, body) = emit(&d, build_event(None)).await;
    let event = body["data"]["id"].as_str().unwrap_or_default().to_owned();
    d.pump(PUMP).await;
    let failed = delivery(&d, &event, &notification).await;
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("slack answered channel_is_archived")
    );
    assert_eq!(enabled(&d, &notification).await, false);
}

async fn slack_with_chat_write_posts_with_the_api_and_falls_back_to_the_webhook_off_channel(
    backend: Backend,
) {
    let d = DeliveryApp::spawn(backend).await;
    let notification = create_notification(&d, json!({"type": "slack", "events": {"buildCreated": true}, "setup": {"slack": {"code": "chat-code", "redirectUri": "https://app.example.com/cb"}}})).await;
    let text =
        "New build of Field Service\nGrace uploaded Field Service 4.2.0 (build 1187) for iOS.";

    // Rate limited (429, Retry-After), then posted as the bot to the channel's id: Block Kit
    // with its text fallback, and nothing through the incoming webhook.
    d.slack
        .answer(&[(429, r#"{"ok": false, "error": "ratelimited"}"#, Some(0))]);
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let api = d.slack.api_posts();
    assert_eq!(api.len(), 2, "429, then delivered");
    assert_eq!(api[1].0, "Bearer xoxb-test");
    assert_eq!(api[1].1["channel"], "C1");
    assert_eq!(api[1].1["text"], text);
    assert_eq!(api[1].1["blocks"][0]["type"], "header");
    assert_eq!(d.slack.posts(), Vec::<Value>::new());
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 2));

    // The bot is not in the channel: the incoming webhook posts it, in the same attempt.
    d.slack
        .answer(&[(200, r#"{"ok": false, "error": "not_in_channel"}"#, None)]);
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let posts = d.slack.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["text"], text);
    let sent = delivery(&d, &event, &notification).await;
    assert_eq!((sent.status, sent.attempts), (DeliveryStatus::Sent, 1));

    // A refused token fails at once and leaves the notification on.
    d.slack
        .answer(&[(200, r#"{"ok": false, "error": "invalid_auth"}"#, None)]);
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let failed = delivery(&d, &event, &notification).await;
    assert_eq!(
        (failed.status, failed.attempts, failed.last_error.as_deref()),
        (
            DeliveryStatus::Failed,
            1,
            Some("slack answered invalid_auth")
        )
    );
    assert_eq!(enabled(&d, &notification).await, true);

    // An archived channel fails and disables the notification.
    d.slack
        .answer(&[(200, r#"{"ok": false, "error": "is_archived"}"#, None)]);
    let event = emitted(&d).await;
    d.pump(PUMP).await;
    let failed = delivery(&d, &event, &notification).await;
    assert_eq!(
        (failed.status, failed.last_error.as_deref()),
        (DeliveryStatus::Failed, Some("slack answered is_archived"))
    );
    assert_eq!(enabled(&d, &notification).await, false);
    assert_eq!(d.slack.api_posts().len(), 5);
}

herald_tests::on_both_backends!(
    slack_gets_block_kit_honours_retry_after_and_an_archived_channel_disables_it,
    slack_with_chat_write_posts_with_the_api_and_falls_back_to_the_webhook_off_channel,
);
