//! The one place that knows the data directory's SQLite layout: which tables each
//! database holds and the pragmas every connection runs with.
//!
//! | file | table | what |
//! |---|---|---|
//! | `rooms/<room id>.sqlite` | `kv` | one room's KV_local (`room_core::schema`'s keys) |
//! | `global.sqlite` | `messages` | KV_global: every committed message, by key |
//! | `global.sqlite` | `ledger` | storage tokens: issued, spent (exactly once) |
//! | `global.sqlite` | `sso_keys` | SSO room tokens redeemed per issuance key, and its cap |
//! | `global.sqlite` | `objects` | the document store's encrypted chunks |
//! | `global.sqlite` | `uploads` | the document store's uploads in progress and done |
//!
//! Every table is `key TEXT PRIMARY KEY, value BLOB` (`WITHOUT ROWID`), in WAL mode with a
//! 5 s busy timeout.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// A room's KV_local table.
pub const ROOM_TABLE: &str = "kv";
/// KV_global's message table.
pub const MESSAGES_TABLE: &str = "messages";
pub const LEDGER_TABLE: &str = "ledger";
pub const OBJECTS_TABLE: &str = "objects";
pub const UPLOADS_TABLE: &str = "uploads";
pub const SSO_KEYS_TABLE: &str = "sso_keys";

/// The tables of `global.sqlite`.
pub const GLOBAL_TABLES: [&str; 5] = [MESSAGES_TABLE, LEDGER_TABLE, OBJECTS_TABLE, UPLOADS_TABLE, SSO_KEYS_TABLE];

/// When a commit returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After the WAL is on stable storage (`synchronous=FULL`): KV_local and the ledger,
    /// whose writes are acknowledged to someone.
    Full,
    /// Possibly before (`synchronous=NORMAL`): KV_global's copies, which may lag.
    Normal,
}

/// Which database a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Room,
    Global,
}

impl Database {
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Database::Room => &[ROOM_TABLE],
            Database::Global => &GLOBAL_TABLES,
        }
    }
}

/// Opens `path` (creating the file only if `create`) as `db`, with every table of `db`.
pub fn open(path: &Path, db: Database, durability: Durability, create: bool) -> rusqlite::Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    // `secure_delete`: content a write replaces or deletes is zeroed in its page, so an
    // erased message's ciphertext does not linger in the file's free space.
    let mut sql = format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=5000; PRAGMA secure_delete=ON;"
    );
    for table in db.tables() {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;"
        ));
    }
    conn.execute_batch(&sql)?;
    Ok(conn)
}
