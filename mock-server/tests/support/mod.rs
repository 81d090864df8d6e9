//! Shared helpers of the mock-server integration tests.
#![allow(dead_code)]

use std::path::Path;

use protocol::ids::RoomId;
use testkit::backend::TestServer;
use testkit::server::ServerOptions;

pub const SECRET: &str = "integration-secret";

/// A server (`CLOAKROOM_BACKEND`: mock-server or the edge) on a fresh temporary data dir
/// with `args` added.
pub fn server(data: &Path, args: &[&str]) -> TestServer {
    let mut options = ServerOptions::new(data);
    options.admin_secret = SECRET.into();
    for a in args {
        options = options.arg(*a);
    }
    TestServer::start(options)
}

/// Rows in a room's KV_local, read straight from its SQLite file.
pub fn kv_rows(data: &Path, room: &RoomId) -> usize {
    let path = testkit::scan::room_database(data, room);
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    conn.query_row("SELECT COUNT(*) FROM kv", [], |r| r.get::<_, i64>(0)).expect("count rows") as usize
}

/// Message rows (keys starting with the room id) in a room's KV_local.
pub fn message_rows(data: &Path, room: &RoomId) -> usize {
    let path = testkit::scan::room_database(data, room);
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT COUNT(*) FROM kv WHERE substr(key, 1, 43) = ?1", [room.as_str()], |r| r.get::<_, i64>(0))
        .unwrap() as usize
}

/// Number of room databases in the data dir.
pub fn room_files(data: &Path) -> usize {
    testkit::scan::stored_rooms(data)
}

/// A field of `/proc/<pid>/status` (`VmRSS`, `VmHWM` in kB; `Threads`).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The names of the files in the rooms directory that process `pid` has open.
fn open_files_in_rooms_dir(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list fds")
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.parent().is_some_and(|dir| dir.ends_with("rooms")))
        .filter_map(|target| Some(target.file_name()?.to_str()?.to_owned()))
        .collect()
}

/// Open room databases (their `.sqlite` file, WAL and shm) of process `pid`.
pub fn open_room_files(pid: u32) -> usize {
    open_files_in_rooms_dir(pid).len()
}

/// The rooms whose database file the server `pid` has open.
pub fn open_room_databases(pid: u32) -> std::collections::BTreeSet<String> {
    open_files_in_rooms_dir(pid).iter().filter_map(|name| name.strip_suffix(".sqlite").map(str::to_owned)).collect()
}
