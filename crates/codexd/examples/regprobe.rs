use codexd::registry::Registry;
use codexd_api::{Task, TaskId, TaskState, Timestamp};
use std::time::Instant;

fn mk(i: u64, base: &Task) -> Task {
    let mut t = base.clone();
    t.id = TaskId::from_bits(i.wrapping_mul(0x9e3779b97f4a7c15));
    t.created_at = Timestamp::from_unix_ms(1_700_000_000_000 + i);
    t
}

#[tokio::main]
async fn main() {
    let base: Task =
        serde_json::from_str(&std::fs::read_to_string(std::env::args().nth(1).unwrap()).unwrap())
            .unwrap();
    println!("record bytes {}", serde_json::to_vec(&base).unwrap().len());
    for size in [0u64, 10_000] {
        let dir = tempfile::tempdir_in("/work").unwrap();
        let reg = Registry::open(&dir.path().join("db")).unwrap();
        for i in 0..size {
            let mut t = mk(i, &base);
            reg.save_unflushed(&t).unwrap();
            t.enter(TaskState::Running, Timestamp::now());
            reg.save_unflushed(&t).unwrap();
            t.enter(TaskState::Succeeded, Timestamp::now());
            reg.save_unflushed(&t).unwrap();
        }
        reg.flush().await.unwrap();
        let mut ins = vec![];
        let mut fl = vec![];
        for i in 0..300u64 {
            let t = mk(1_000_000 + size + i, &base);
            let a = Instant::now();
            reg.save_unflushed(&t).unwrap();
            let b = Instant::now();
            reg.flush().await.unwrap();
            let c = Instant::now();
            ins.push((b - a).as_micros());
            fl.push((c - b).as_micros());
            // the rest of the task's life
            let mut t = t;
            t.enter(TaskState::Running, Timestamp::now());
            reg.save(&t).await.unwrap();
            t.enter(TaskState::Succeeded, Timestamp::now());
            reg.save(&t).await.unwrap();
        }
        ins.sort();
        fl.sort();
        println!(
            "size {size}: insert p50 {}us flush p50 {}us",
            ins[150], fl[150]
        );
    }
}
