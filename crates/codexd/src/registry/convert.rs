//! Opening a registry written before the records were split ([`super::state`]): its
//! `tasks` tree held each whole [`Task`] under its id, and `by_created` (time + id → id)
//! ordered them. [`whole_records`] stores every such task in the new trees and then drops
//! the old ones.
//!
//! Crash-safe by order: the new records are flushed before the old trees are dropped, and
//! converting a task again stores the same records, so a conversion cut short is simply
//! done again at the next open.

use super::{Registry, RegistryError};
use codexd_api::Task;

/// The tree of whole task records (id → `Task` JSON) of older registries.
const OLD_TASKS_TREE: &[u8] = b"tasks";
/// The creation-order index of older registries, replaced by the new trees' keys.
const OLD_ORDER_TREE: &[u8] = b"by_created";

/// Converts the whole task records of an older registry, if there are any; returns how
/// many. A record that does not decode fails the open, as the start-up check did for such
/// a record before (the daemon then moves the registry aside and rebuilds it from the task
/// directories).
pub(super) fn whole_records(db: &sled::Db, registry: &Registry) -> Result<usize, RegistryError> {
    let names = db.tree_names();
    let has = |name: &[u8]| names.iter().any(|n| n.as_ref() == name);
    if !has(OLD_TASKS_TREE) && !has(OLD_ORDER_TREE) {
        return Ok(0);
    }
    let mut converted = 0;
    if has(OLD_TASKS_TREE) {
        let old = db
            .open_tree(OLD_TASKS_TREE)
            .map_err(registry.err("open the old tasks tree"))?;
        for entry in old.iter() {
            let (key, bytes) = entry.map_err(registry.err("read the old tasks tree"))?;
            let task: Task = registry.decode(&key, &bytes)?;
            registry.save_unflushed(&task)?;
            converted += 1;
        }
        // The new records reach the disk before the only other copy goes.
        db.flush()
            .map_err(registry.err("flush the converted records"))?;
    }
    db.drop_tree(OLD_TASKS_TREE)
        .map_err(registry.err("drop the old tasks tree"))?;
    db.drop_tree(OLD_ORDER_TREE)
        .map_err(registry.err("drop the old order tree"))?;
    db.flush()
        .map_err(registry.err("flush the converted registry"))?;
    tracing::info!(
        tasks = converted,
        "converted the registry to state and request records"
    );
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::taskdir::StoredRequest;
    use codexd_api::{CountQuery, ListQuery, TaskCounts, TaskId, TaskState, Timestamp};

    /// Writes `tasks` the way the registry did before the split: whole records under their
    /// ids in `tasks`, the order index, the idempotency keys.
    fn write_old_registry(path: &std::path::Path, tasks: &[Task]) {
        let db = sled::open(path).unwrap();
        let records = db.open_tree("tasks").unwrap();
        let order = db.open_tree("by_created").unwrap();
        let request_ids = db.open_tree("by_request_id").unwrap();
        for task in tasks {
            records
                .insert(task.id.as_str(), serde_json::to_vec(task).unwrap())
                .unwrap();
            let mut key = task.created_at.unix_ms().to_be_bytes().to_vec();
            key.extend_from_slice(task.id.as_str().as_bytes());
            order.insert(key, task.id.as_str()).unwrap();
            if let Some(request_id) = &task.request_id {
                request_ids
                    .insert(request_id.as_str(), task.id.as_str())
                    .unwrap();
            }
        }
        db.flush().unwrap();
    }

    /// Three tasks of an older registry: one queued with an idempotency key, one running,
    /// one ended unread with a long prompt and options.
    fn old_tasks() -> Vec<Task> {
        let at = |ms: u64| Timestamp::from_unix_ms(1_700_000_000_000 + ms);
        let mut queued = StoredRequest::for_test("aa000001", "/w", at(1)).new_task();
        queued.request_id = Some("key-1".into());
        let mut running = StoredRequest::for_test("bb000002", "/w", at(2)).new_task();
        running.enter(TaskState::Running, at(3));
        running.pid = Some(42);
        let mut ended = StoredRequest::for_test("cc000003", "/x", at(4)).new_task();
        ended.prompt = "a long prompt ".repeat(40);
        ended.config = vec!["model_reasoning_effort=high".into()];
        ended.env_keys = vec!["TOKEN".into()];
        ended.labels = vec!["nightly".into()];
        ended.enter(TaskState::Running, at(5));
        ended.enter(TaskState::Succeeded, at(6));
        ended.final_message = Some("done".into());
        vec![queued, running, ended]
    }

    /// Opens the database directly once the registry's sled threads let go of its lock.
    fn open_when_released(path: &std::path::Path) -> sled::Db {
        for _ in 0..200 {
            if let Ok(db) = sled::open(path) {
                return db;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        sled::open(path).unwrap()
    }

    #[tokio::test]
    async fn an_older_registry_opens_converted_with_nothing_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let tasks = old_tasks();
        write_old_registry(&path, &tasks);

        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.check().unwrap(), 3);
        for task in &tasks {
            assert_eq!(reg.get(&task.id).unwrap().as_ref(), Some(task));
        }
        assert_eq!(
            reg.by_request_id("key-1").unwrap().map(|t| t.id),
            Some(TaskId::from_stored("aa000001"))
        );
        let page = reg.list(&ListQuery::default()).unwrap();
        let ids: Vec<_> = page.tasks.iter().map(|t| t.id.to_string()).collect();
        assert_eq!(ids, ["cc000003", "bb000002", "aa000001"]);
        let labelled = reg
            .list(&ListQuery {
                label: Some("nightly".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(labelled.tasks, vec![tasks[2].clone()]);
        assert_eq!(
            reg.count(&CountQuery::default()),
            TaskCounts {
                running: 1,
                queued: 1,
                unread: 1
            }
        );
        drop(reg);

        // The old trees are gone and the converted records stay after a reopen.
        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.len(), 3);
        assert_eq!(reg.get(&tasks[2].id).unwrap().as_ref(), Some(&tasks[2]));
        drop(reg);
        let db = open_when_released(&path);
        let names = db.tree_names();
        assert!(!names.iter().any(|n| n.as_ref() == OLD_TASKS_TREE));
        assert!(!names.iter().any(|n| n.as_ref() == OLD_ORDER_TREE));
    }

    #[tokio::test]
    async fn a_corrupt_older_record_fails_the_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let db = sled::open(&path).unwrap();
            db.open_tree("tasks")
                .unwrap()
                .insert("aa000001", &b"{not json"[..])
                .unwrap();
            db.flush().unwrap();
        }
        match Registry::open(&path) {
            Err(RegistryError::Corrupt { key, .. }) => assert_eq!(key, "aa000001"),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a corrupt record opened"),
        }
    }
}
