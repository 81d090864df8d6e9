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

/// The SQLite files under `dir` whose path contains `marker` (a Durable Object class, or
/// R2's metadata object), each opened read-only.
fn databases_of(dir: &Path, marker: &str) -> Vec<rusqlite::Connection> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sqlite") && p.to_string_lossy().contains(marker))
        .filter_map(|p| rusqlite::Connection::open_with_flags(p, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok())
        .collect()
}

/// Every `(key, value)` row of `table` in `conn`, or none if it has no such table.
fn rows(conn: &rusqlite::Connection, sql: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(mut stmt) = conn.prepare(sql) else { return Vec::new() };
    let found = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)));
    found.map(|rows| rows.map(|r| r.expect("a row")).collect()).unwrap_or_default()
}

/// Whether `dir` is mock-server's data dir (else workerd's state, the edge's).
fn is_mock(dir: &Path) -> bool {
    dir.join("global.sqlite").is_file()
}

/// The bytes of the R2 object `key` under workerd's state in `dir`, with the path of the
/// blob file holding them: R2's metadata (`_mf_objects`) names the blob.
fn r2_blob(dir: &Path, key: &str) -> PathBuf {
    let blob: String = databases_of(dir, "R2BucketObject")
        .iter()
        .find_map(|c| c.query_row("SELECT blob_id FROM _mf_objects WHERE key = ?1", [key], |r| r.get(0)).ok())
        .unwrap_or_else(|| panic!("R2 holds no object {key}"));
    files_under(dir)
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == blob) && p.to_string_lossy().contains("blobs"))
        .unwrap_or_else(|| panic!("no blob file {blob} among {:?}", files_under(dir)))
}

/// The upload records the document store holds: (file id, record JSON).
fn upload_records(dir: &Path) -> Vec<(String, Vec<u8>)> {
    if is_mock(dir) {
        let conn = rusqlite::Connection::open(dir.join("global.sqlite")).expect("open the document store");
        return rows(&conn, "SELECT key, value FROM uploads ORDER BY key");
    }
    let mut all: Vec<_> = databases_of(dir, "UploadsObject")
        .iter()
        .flat_map(|c| rows(c, "SELECT key, value FROM uploads ORDER BY key"))
        .collect();
    all.sort();
    all
}

/// The document store's totals in a backend's stored dir: (ciphertext bytes stored,
/// uploads). mock-server: `global.sqlite`'s `objects` and `uploads` tables; the edge: the
/// sizes of R2's objects and the rows of every upload-record object. Reading while the
/// server runs is fine (SQLite in WAL mode; read-only connections).
pub fn object_store_totals(dir: &Path) -> (i64, i64) {
    let uploads = upload_records(dir).len() as i64;
    if is_mock(dir) {
        let conn = rusqlite::Connection::open(dir.join("global.sqlite")).expect("open the document store");
        let bytes = conn
            .query_row("SELECT COALESCE(SUM(LENGTH(value)), 0) FROM objects", [], |r| r.get(0))
            .expect("sum objects");
        return (bytes, uploads);
    }
    let bytes = databases_of(dir, "R2BucketObject")
        .iter()
        .map(|c| c.query_row("SELECT COALESCE(SUM(size), 0) FROM _mf_objects", [], |r| r.get::<_, i64>(0)).unwrap_or(0))
        .sum();
    (bytes, uploads)
}

/// Everything the document store and the ledger hold, as (table, key, value) rows, to
/// show that a refused request changed nothing. mock-server: every row of `uploads`,
/// `objects` and `ledger`; the edge: the upload records, the ledger objects' `tokens` and
/// `sso_keys`, and R2's objects with their bytes.
pub fn document_store_snapshot(dir: &Path) -> Vec<(String, String, Vec<u8>)> {
    let mut out: Vec<(String, String, Vec<u8>)> =
        upload_records(dir).into_iter().map(|(k, v)| ("uploads".to_owned(), k, v)).collect();
    if is_mock(dir) {
        let conn = rusqlite::Connection::open(dir.join("global.sqlite")).expect("open the document store");
        for table in ["objects", "ledger"] {
            let found = rows(&conn, &format!("SELECT key, value FROM {table} ORDER BY key"));
            out.extend(found.into_iter().map(|(k, v)| (table.to_owned(), k, v)));
        }
        return out;
    }
    for conn in databases_of(dir, "LedgerObject") {
        for table in ["tokens", "sso_keys"] {
            let found = rows(&conn, &format!("SELECT key, value FROM {table} ORDER BY key"));
            out.extend(found.into_iter().map(|(k, v)| (table.to_owned(), k, v)));
        }
    }
    for conn in databases_of(dir, "R2BucketObject") {
        for (key, _) in rows(&conn, "SELECT key, CAST(etag AS BLOB) FROM _mf_objects ORDER BY key") {
            let bytes = std::fs::read(r2_blob(dir, &key)).expect("read an R2 blob");
            out.push(("r2".to_owned(), key, bytes));
        }
    }
    out.sort();
    out
}

/// Flips one byte in the middle of chunk `index` of `file` (a file id) in a stopped
/// server's document store, as a failing disk or a malicious operator would.
pub fn flip_object_byte(dir: &Path, file: &str, index: usize) {
    let record = upload_records(dir).into_iter().find(|(k, _)| k == file).expect("the upload record").1;
    let record: serde_json::Value = serde_json::from_slice(&record).expect("an upload record");
    let chunk = record["chunk_ids"][index].as_str().expect("the chunk is stored").to_owned();
    if !is_mock(dir) {
        let blob = r2_blob(dir, &chunk);
        let mut bytes = std::fs::read(&blob).expect("read the blob");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&blob, bytes).expect("flip");
        return;
    }
    let conn = rusqlite::Connection::open(dir.join("global.sqlite")).expect("open the document store");
    let mut bytes: Vec<u8> =
        conn.query_row("SELECT value FROM objects WHERE key = ?1", [&chunk], |r| r.get(0)).expect("the chunk");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    conn.execute("UPDATE objects SET value = ?1 WHERE key = ?2", rusqlite::params![bytes, chunk]).expect("flip");
}
