//! The rehearsal's run store: `state/engine.sqlite`. After every event, in one transaction:
//! the journal line of the event, the agents it changed (JSON), the events it scheduled and
//! the removal of the event itself from the queue, and the count of events done. A killed
//! run therefore stops between two committed events, or inside one whose effects on the
//! endpoints may be partly done; `--resume` loads the last commit and takes that one event
//! again, reconciling with what the endpoints already hold (see `World::recovering` in
//! `world.rs` and the agents' steps that look before they act).

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The store file in the state directory.
pub const FILE: &str = "engine.sqlite";

/// The run store.
pub struct EngineStore {
    conn: Connection,
}

/// What a store holds at load.
pub struct Saved<A, E> {
    /// The agents by index.
    pub agents: Vec<A>,
    /// The queue: (virtual instant, sequence number, event).
    pub queue: Vec<(DateTime<Utc>, u64, E)>,
    /// Events done.
    pub done: u64,
    /// The last sequence number handed out.
    pub seq: u64,
}

impl EngineStore {
    /// A new store (the file must not exist).
    pub fn create(dir: &Path, fingerprint: &str) -> Result<EngineStore> {
        let path = dir.join(FILE);
        if path.exists() {
            bail!("{} exists: a run is already there", path.display());
        }
        let conn =
            Connection::open(&path).with_context(|| format!("creating {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE agents (idx INTEGER PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE queue (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, ev TEXT NOT NULL);
             CREATE TABLE journal (n INTEGER PRIMARY KEY, seq INTEGER NOT NULL, at TEXT NOT NULL,
                                   label TEXT NOT NULL);",
        )?;
        conn.execute(
            "INSERT INTO meta (k, v) VALUES ('fingerprint', ?1)",
            params![fingerprint],
        )?;
        Ok(EngineStore { conn })
    }

    /// An existing store, for `--resume`; refuses one made for other arguments.
    pub fn open(dir: &Path, fingerprint: &str) -> Result<EngineStore> {
        let path = dir.join(FILE);
        if !path.exists() {
            bail!(
                "nothing to resume: {} does not exist (run without --resume)",
                path.display()
            );
        }
        let conn =
            Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
        let stored: Option<String> = conn
            .query_row("SELECT v FROM meta WHERE k = 'fingerprint'", [], |r| {
                r.get(0)
            })
            .optional()?;
        match stored {
            Some(f) if f == fingerprint => {}
            Some(f) => bail!(
                "the run in {} was started with other arguments ({f}); resume it with those, \
                 or start a new run without --resume",
                path.display()
            ),
            None => bail!("{} has no run in it", path.display()),
        }
        let started: Option<String> = conn
            .query_row("SELECT v FROM meta WHERE k = 'done'", [], |r| r.get(0))
            .optional()?;
        if started.is_none() {
            bail!(
                "the run in {} was killed before it started; run without --resume",
                dir.display()
            );
        }
        Ok(EngineStore { conn })
    }

    /// Commits one step: `done` events done, the event `popped` (sequence number) taken off
    /// the queue and journaled, `pushed` added, `agents` (index, state) written.
    pub fn commit<A: Serialize, E: Serialize>(
        &mut self,
        done: u64,
        seq: u64,
        popped: Option<(u64, DateTime<Utc>, &str)>,
        pushed: &[(DateTime<Utc>, u64, E)],
        agents: &[(usize, &A)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        if let Some((s, at, label)) = popped {
            tx.execute("DELETE FROM queue WHERE seq = ?1", params![s as i64])?;
            tx.execute(
                "INSERT INTO journal (n, seq, at, label) VALUES (?1, ?2, ?3, ?4)",
                params![done as i64, s as i64, at.to_rfc3339(), label],
            )?;
        }
        {
            let mut ins =
                tx.prepare_cached("INSERT INTO queue (seq, at, ev) VALUES (?1, ?2, ?3)")?;
            for (at, s, ev) in pushed {
                ins.execute(params![
                    *s as i64,
                    at.to_rfc3339(),
                    serde_json::to_string(ev)?
                ])?;
            }
            let mut up =
                tx.prepare_cached("INSERT OR REPLACE INTO agents (idx, json) VALUES (?1, ?2)")?;
            for (i, a) in agents {
                up.execute(params![*i as i64, serde_json::to_string(a)?])?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('done', ?1), ('seq', ?2)",
            params![done.to_string(), seq.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Everything committed.
    pub fn load<A: DeserializeOwned, E: DeserializeOwned>(&self) -> Result<Saved<A, E>> {
        let meta = |k: &str| -> Result<u64> {
            let v: String = self
                .conn
                .query_row("SELECT v FROM meta WHERE k = ?1", params![k], |r| r.get(0))
                .with_context(|| format!("run store: no {k}"))?;
            v.parse().map_err(|_| anyhow!("run store: {k} = {v:?}"))
        };
        let mut agents = Vec::new();
        let mut st = self
            .conn
            .prepare("SELECT idx, json FROM agents ORDER BY idx")?;
        for row in st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
            let (i, json) = row?;
            if i as usize != agents.len() {
                bail!("run store: agent {i} out of order");
            }
            agents.push(
                serde_json::from_str(&json).with_context(|| format!("run store: agent {i}"))?,
            );
        }
        let mut queue = Vec::new();
        let mut st = self
            .conn
            .prepare("SELECT seq, at, ev FROM queue ORDER BY seq")?;
        for row in st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })? {
            let (s, at, ev) = row?;
            let at = DateTime::parse_from_rfc3339(&at)
                .with_context(|| format!("run store: event {s} at {at:?}"))?
                .with_timezone(&Utc);
            queue.push((at, s as u64, serde_json::from_str(&ev)?));
        }
        Ok(Saved {
            agents,
            queue,
            done: meta("done")?,
            seq: meta("seq")?,
        })
    }
}
