//! The store contract for rate-limited targets' send slots, on both backends.

use std::time::Duration;

use super::*;

async fn send_slots_are_reserved_one_spacing_apart_per_target_across_concurrent_senders(
    backend: Backend,
) {
    let (store, o, _) = seeded(backend).await;
    let (first, second) = (notification(&o.id), notification(&o.id));
    let spacing = Duration::from_millis(50);
    let start = SystemClock.now() + time::Duration::seconds(1);
    let start = shared::model::timestamp::truncate(start);
    let reserve = |n: &NotificationId, earliest| {
        let (store, org, n) = (store.clone(), o.id.clone(), n.clone());
        async move {
            store
                .reserve_send_slot(&org, &n, earliest, spacing, 1)
                .await
                .unwrap_or_else(|e| panic!("reserve: {e}"))
        }
    };
    let ms = time::Duration::milliseconds;
    // An idle target's slot is the earliest asked; a busy one's is one spacing after the last.
    assert_eq!(reserve(&first.id, start).await, start);
    assert_eq!(reserve(&first.id, start).await, start + ms(50));
    assert_eq!(reserve(&first.id, start + ms(10)).await, start + ms(100));
    // Another target has a clock of its own.
    assert_eq!(reserve(&second.id, start).await, start);
    // Once the clock has passed the last slot, the target is idle again.
    assert_eq!(reserve(&first.id, start + ms(400)).await, start + ms(400));
    // Twenty concurrent senders: twenty distinct slots, exactly one spacing apart.
    let tasks: Vec<_> = (0..20)
        .map(|_| tokio::spawn(reserve(&second.id, start)))
        .collect();
    let mut slots = Vec::new();
    for t in tasks {
        slots.push(t.await.unwrap_or_else(|e| panic!("{e}")));
    }
    slots.sort();
    let expected: Vec<_> = (1..=20).map(|i| start + ms(50 * i)).collect();
    assert_eq!(slots, expected);
    // Several slots at once: the first is answered, and the clock moves past them all.
    let batch = store
        .reserve_send_slot(&o.id, &second.id, start, spacing, 10)
        .await
        .unwrap_or_else(|e| panic!("reserve: {e}"));
    assert_eq!(batch, start + ms(50 * 21));
    assert_eq!(reserve(&second.id, start).await, start + ms(50 * 31));
    let fresh = notification(&o.id);
    let first = store
        .reserve_send_slot(&o.id, &fresh.id, start, spacing, 4)
        .await
        .unwrap_or_else(|e| panic!("reserve: {e}"));
    assert_eq!(first, start);
    assert_eq!(reserve(&fresh.id, start).await, start + ms(200));
}

herald_tests::on_both_backends!(
    send_slots_are_reserved_one_spacing_apart_per_target_across_concurrent_senders,
);
