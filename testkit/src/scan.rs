//! Byte scans of a data directory: proof that secrets never reached the server's disk.

use std::path::{Path, PathBuf};

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The files under `dir` that contain `needle` anywhere in their bytes.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    assert!(!needle.is_empty());
    files_under(dir)
        .into_iter()
        .filter(|p| std::fs::read(p).map(|bytes| memchr::memmem::find(&bytes, needle).is_some()).unwrap_or(false))
        .collect()
}

/// Asserts that none of `plaintexts` and no encoding of `key` is anywhere under `dir`,
/// and that the scan works: `stored` (something the server must keep, such as the room
/// id) is found.
pub fn assert_only_ciphertext(dir: &Path, plaintexts: &[&str], key: &[u8], stored: &str) {
    for needle in plaintexts {
        let found = files_containing(dir, needle.as_bytes());
        assert!(found.is_empty(), "plaintext {needle:?} reached the server's disk: {found:?}");
    }
    for encoding in secret_encodings(key) {
        assert!(files_containing(dir, &encoding).is_empty(), "the content key reached the server's disk");
    }
    assert!(!files_containing(dir, stored.as_bytes()).is_empty(), "the scan finds what the server stores");
}

/// The encodings a 32-byte secret could be written in: raw, base64url, standard
/// base64 (padded and not), lowercase and uppercase hex.
pub fn secret_encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    use std::fmt::Write;
    let std_b64 = {
        // Standard alphabet derived from the URL-safe one the protocol uses.
        let url = protocol::encoding::b64(secret);
        let mut s: String = url
            .chars()
            .map(|c| match c {
                '-' => '+',
                '_' => '/',
                c => c,
            })
            .collect();
        let unpadded = s.clone();
        while !s.len().is_multiple_of(4) {
            s.push('=');
        }
        vec![s.into_bytes(), unpadded.into_bytes(), url.into_bytes()]
    };
    let mut hex = String::new();
    for b in secret {
        let _ = write!(hex, "{b:02x}");
    }
    let mut all = vec![secret.to_vec(), hex.clone().into_bytes(), hex.to_uppercase().into_bytes()];
    all.extend(std_b64);
    all
}

/// The room a KV_local database holds, from its `~meta` record (the owner key names it).
fn room_of_database(path: &Path) -> Option<protocol::ids::RoomId> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let meta: Vec<u8> = conn.query_row("SELECT value FROM kv WHERE key = '~meta'", [], |r| r.get(0)).ok()?;
    let meta: serde_json::Value = serde_json::from_slice(&meta).ok()?;
    let owner = protocol::identity::PublicKey::parse(meta["owner"].as_str()?).ok()?;
    Some(protocol::ids::RoomId::from_owner_key(&owner))
}

/// The SQLite file holding `room`'s KV_local under a backend's stored dir: mock-server's
/// `rooms/<room id>.sqlite`, or, under workerd's state, the Durable Object database
/// (named by a hash of the object id) whose room record names `room`.
pub fn room_database(dir: &Path, room: &protocol::ids::RoomId) -> PathBuf {
    let mock = dir.join("rooms").join(format!("{room}.sqlite"));
    if mock.is_file() {
        return mock;
    }
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sqlite"))
        .find(|p| room_of_database(p).as_ref() == Some(room))
        .unwrap_or_else(|| panic!("no database of room {room} under {}", dir.display()))
}

/// How many rooms a backend holds under its stored dir: mock-server's room databases, or
/// workerd's Durable Object databases whose `kv` table has rows (an object asked about a
/// room that does not exist keeps no room record).
pub fn stored_rooms(dir: &Path) -> usize {
    let rooms = dir.join("rooms");
    if rooms.is_dir() {
        return files_under(&rooms).iter().filter(|f| f.extension().is_some_and(|e| e == "sqlite")).count();
    }
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sqlite") && p.to_string_lossy().contains("RoomObject"))
        .filter(|p| room_of_database(p).is_some())
        .count()
}

/// Alters one byte of the ciphertext of the `nth` stored message (oldest first) of `room`
/// directly in its SQLite file under `dir` (a backend's stored dir), keeping the JSON and
/// base64 valid; returns its key. The server must be stopped.
pub fn alter_stored_message(dir: &Path, room: &protocol::ids::RoomId, nth: usize) -> String {
    let path = room_database(dir, room);
    let conn = rusqlite::Connection::open(&path).expect("open the room database");
    let (key, value): (String, Vec<u8>) = conn
        .query_row(
            "SELECT key, value FROM kv WHERE substr(key, 1, 43) = ?1 ORDER BY key LIMIT 1 OFFSET ?2",
            rusqlite::params![room.as_str(), nth as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the message exists");
    let mut stored: protocol::envelope::StoredMessage = serde_json::from_slice(&value).expect("a stored message");
    stored.env.ct.0[3] ^= 0x20;
    conn.execute(
        "UPDATE kv SET value = ?2 WHERE key = ?1",
        rusqlite::params![key, serde_json::to_vec(&stored).expect("serialise")],
    )
    .expect("write the altered message");
    key
}

/// The document store's totals in a server's data dir: (ciphertext bytes stored, uploads).
/// Reading while the server runs is fine (the store is in WAL mode).
pub fn object_store_totals(data_dir: &Path) -> (i64, i64) {
    let conn = rusqlite::Connection::open(data_dir.join("global.sqlite")).expect("open the document store");
    let bytes =
        conn.query_row("SELECT COALESCE(SUM(LENGTH(value)), 0) FROM objects", [], |r| r.get(0)).expect("sum objects");
    let uploads = conn.query_row("SELECT COUNT(*) FROM uploads", [], |r| r.get(0)).expect("count uploads");
    (bytes, uploads)
}

/// Flips one byte in the middle of chunk `index` of `file` (a file id) in a stopped
/// server's document store, as a failing disk or a malicious operator would.
pub fn flip_object_byte(data_dir: &Path, file: &str, index: usize) {
    let conn = rusqlite::Connection::open(data_dir.join("global.sqlite")).expect("open the document store");
    let record: Vec<u8> =
        conn.query_row("SELECT value FROM uploads WHERE key = ?1", [file], |r| r.get(0)).expect("the upload record");
    let record: serde_json::Value = serde_json::from_slice(&record).expect("an upload record");
    let chunk = record["chunk_ids"][index].as_str().expect("the chunk is stored").to_owned();
    let mut bytes: Vec<u8> =
        conn.query_row("SELECT value FROM objects WHERE key = ?1", [&chunk], |r| r.get(0)).expect("the chunk");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    conn.execute("UPDATE objects SET value = ?1 WHERE key = ?2", rusqlite::params![bytes, chunk]).expect("flip");
}
