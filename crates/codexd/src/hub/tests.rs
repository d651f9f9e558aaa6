//! Tests of the hub's fan-out by interest: who gets what, lag, and no missed final state.

use super::*;
use crate::registry::taskdir::StoredRequest;
use codexd_api::{TaskState, Timestamp};

/// A fresh task record with this id.
fn task(id: &str) -> Task {
    StoredRequest::for_test(id, "/w", Timestamp::now()).new_task()
}

/// An event line update for `id`.
fn event(id: &str, offset: u64) -> Update {
    Update::Event {
        task: TaskId::from_stored(id),
        offset,
        line: Arc::from("{}"),
    }
}

/// The update waiting in `sub`, if any, without blocking.
fn try_next(sub: &mut Subscription) -> Option<Result<Arc<Update>, Lagged>> {
    futures::FutureExt::now_or_never(sub.recv())
}

#[tokio::test]
async fn a_task_subscriber_gets_only_its_task_and_an_all_subscriber_gets_both() {
    let hub = Hub::new(16);
    let a = TaskId::from_stored("aaaa0001");
    let mut of_a = hub.subscribe(std::slice::from_ref(&a), true);
    let mut all = hub.subscribe_all(true);
    hub.publish(Update::State(task("bbbb0002")));
    hub.publish(Update::State(task("aaaa0001")));
    hub.publish(event("bbbb0002", 0));

    let got = try_next(&mut of_a).unwrap().unwrap();
    assert_eq!(got.task_id(), &a);
    assert!(
        try_next(&mut of_a).is_none(),
        "task A's subscriber got B's update"
    );

    let ids: Vec<String> = (0..3)
        .map(|_| try_next(&mut all).unwrap().unwrap().task_id().to_string())
        .collect();
    assert_eq!(ids, ["bbbb0002", "aaaa0001", "bbbb0002"]);
    assert!(try_next(&mut all).is_none());
}

#[tokio::test]
async fn a_states_only_subscriber_is_not_sent_event_lines() {
    let hub = Hub::new(16);
    let a = TaskId::from_stored("aaaa0001");
    let mut states = hub.subscribe(std::slice::from_ref(&a), false);
    hub.publish(event("aaaa0001", 0));
    hub.publish(Update::State(task("aaaa0001")));
    assert!(matches!(
        *try_next(&mut states).unwrap().unwrap(),
        Update::State(_)
    ));
    assert!(try_next(&mut states).is_none());
}

#[tokio::test]
async fn a_subscription_to_several_tasks_gets_each_update_once_and_unsubscribes_on_drop() {
    let hub = Hub::new(16);
    let a = TaskId::from_stored("aaaa0001");
    let b = TaskId::from_stored("bbbb0002");
    let mut both = hub.subscribe(&[a.clone(), b.clone(), a.clone()], true);
    assert_eq!(hub.subscribers_of(&a), 1);
    hub.publish(Update::State(task("aaaa0001")));
    hub.publish(Update::State(task("bbbb0002")));
    assert_eq!(try_next(&mut both).unwrap().unwrap().task_id(), &a);
    assert_eq!(try_next(&mut both).unwrap().unwrap().task_id(), &b);
    assert!(try_next(&mut both).is_none());
    drop(both);
    assert_eq!(hub.subscribers_of(&a), 0);
    assert_eq!(hub.subscribers_of(&b), 0);
    assert!(hub.inner.lock().by_task.is_empty());
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_gets_lagged_before_later_updates() {
    let hub = Hub::new(2);
    let a = TaskId::from_stored("aaaa0001");
    let mut sub = hub.subscribe(std::slice::from_ref(&a), true);
    for offset in 0..5 {
        hub.publish(event("aaaa0001", offset));
    }
    assert_eq!(try_next(&mut sub).unwrap().unwrap_err(), Lagged);
    // The queue was emptied; what comes next is new.
    hub.publish(event("aaaa0001", 9));
    match &*try_next(&mut sub).unwrap().unwrap() {
        Update::Event { offset, .. } => assert_eq!(*offset, 9),
        other => panic!("expected the event at 9, got {other:?}"),
    }
}

#[tokio::test]
async fn the_final_state_published_right_after_subscribing_is_never_missed() {
    let hub = Hub::new(4);
    let a = TaskId::from_stored("aaaa0001");
    for _ in 0..200 {
        let publisher = hub.clone();
        // Subscribe first, then let the final state race the receive.
        let mut sub = hub.subscribe(std::slice::from_ref(&a), false);
        let done = tokio::spawn(async move {
            let mut ended = task("aaaa0001");
            ended.enter(TaskState::Succeeded, Timestamp::now());
            publisher.publish(Update::State(ended));
        });
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), sub.recv())
            .await
            .expect("the final state was missed")
            .unwrap();
        match &*got {
            Update::State(t) => assert!(t.state.is_terminal()),
            other => panic!("expected the final state, got {other:?}"),
        }
        done.await.unwrap();
    }
}

#[tokio::test]
async fn publishing_with_no_subscriber_of_the_task_leaves_others_untouched() {
    let hub = Hub::new(1);
    let others: Vec<Subscription> = (0..100)
        .map(|i| hub.subscribe(&[TaskId::from_stored(format!("cccc{i:04}"))], true))
        .collect();
    for offset in 0..50 {
        hub.publish(event("aaaa0001", offset));
    }
    // Had any of them been offered the updates, their one-slot queues would have lagged.
    assert!(others.iter().all(|s| !s.lagged.load(Ordering::Acquire)));
}
