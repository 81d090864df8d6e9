//! Where a download's decrypted chunks wait until the whole file checks out.
//!
//! - [`Spool::Disk`]: a file in the origin private file system (OPFS), written chunk by
//!   chunk at its offset. The browser keeps it on disk, so saving a 1 GiB file costs the
//!   chunks in flight, not the file: Firefox keeps in-memory Blobs in memory (Chromium pages
//!   them to disk, WebKit does not either). The saved Blob is the OPFS file itself.
//! - [`Spool::Memory`]: one Blob per chunk, assembled without copying at the end. For
//!   browsers without OPFS writes (WebKitGTK 2.50; Firefox's private windows), when the
//!   origin's quota has no room for the file, and for images that are only shown.
//!
//! A spooled file is saved only after every check passed; a damaged or cancelled one is
//! deleted at once. Saved spool files stay until the browser has copied them (a download
//! reads its object URL asynchronously): each is deleted [`KEEP_SAVED`] after it was saved,
//! and every new download first deletes what an earlier page left behind past that age.

use std::cell::RefCell;
use std::time::Duration;

use js_sys::{Array, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// The directory of the origin private file system that holds spooled downloads.
const DIRECTORY: &str = "downloads";
/// How long a saved file stays in the spool for the browser to copy it out.
pub const KEEP_SAVED: Duration = Duration::from_secs(10 * 60);
/// Room the origin's quota must have beyond the file (other data keeps growing meanwhile).
const QUOTA_MARGIN: f64 = 64.0 * 1024.0 * 1024.0;

/// The chunks of one download until it is checked and saved.
pub enum Spool {
    Memory(RefCell<Vec<Option<web_sys::Blob>>>),
    Disk(DiskSpool),
}

/// A file being written in the origin private file system.
pub struct DiskSpool {
    directory: web_sys::FileSystemDirectoryHandle,
    name: String,
    file: web_sys::FileSystemFileHandle,
    writer: web_sys::FileSystemWritableFileStream,
}

impl Spool {
    /// A spool in memory for `chunks` chunks.
    pub fn memory(chunks: u32) -> Spool {
        Spool::Memory(RefCell::new(vec![None; chunks as usize]))
    }

    /// A spool on disk for a file of `size` bytes where the browser can write one (and its
    /// quota has room), otherwise in memory.
    pub async fn for_saving(size: u64, chunks: u32) -> Spool {
        match DiskSpool::create(size).await {
            Ok(disk) => Spool::Disk(disk),
            // No OPFS writes here, or no room in the quota: memory, as before OPFS.
            Err(_) => Spool::memory(chunks),
        }
    }

    /// True for a spool on disk.
    pub fn on_disk(&self) -> bool {
        matches!(self, Spool::Disk(_))
    }

    /// Keeps `bytes`, chunk `index` of the file, which starts at byte `offset`.
    pub async fn write(&self, index: u32, offset: u64, bytes: &Uint8Array) -> Result<(), String> {
        match self {
            Spool::Memory(parts) => {
                let part = web_sys::Blob::new_with_u8_array_sequence(&Array::of1(bytes))
                    .map_err(|_| "cannot assemble the file".to_owned())?;
                parts.borrow_mut()[index as usize] = Some(part);
                Ok(())
            }
            Spool::Disk(disk) => disk.write(offset, bytes).await,
        }
    }

    /// The whole file, typed `mime`: only once every check has passed. A file on disk is
    /// deleted [`KEEP_SAVED`] later, once the browser has copied it out.
    pub async fn finish(self, mime: &str) -> Result<web_sys::Blob, String> {
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(mime);
        let parts: Array = match self {
            Spool::Memory(parts) => parts.into_inner().into_iter().flatten().collect(),
            Spool::Disk(disk) => {
                delete_later(disk.name.clone());
                Array::of1(&disk.close().await?.into())
            }
        };
        // A Blob made of Blobs refers to them: nothing is copied, a disk file stays on disk.
        web_sys::Blob::new_with_blob_sequence_and_options(&parts, &options)
            .map_err(|_| "cannot assemble the file".into())
    }

    /// Throws the chunks away (a damaged or cancelled download).
    pub async fn discard(self) {
        if let Spool::Disk(disk) = self {
            let _ = JsFuture::from(disk.writer.abort()).await;
            let _ = JsFuture::from(disk.directory.remove_entry(&disk.name)).await;
        }
    }

    /// The name of the spool file (disk spools).
    pub fn file_name(&self) -> Option<String> {
        match self {
            Spool::Memory(_) => None,
            Spool::Disk(disk) => Some(disk.name.clone()),
        }
    }
}

/// Deletes the spool file `name` of a saved download after [`KEEP_SAVED`].
fn delete_later(name: String) {
    wasm_bindgen_futures::spawn_local(async move {
        gloo_timers::future::sleep(KEEP_SAVED).await;
        if let Ok(directory) = spool_directory().await {
            let _ = JsFuture::from(directory.remove_entry(&name)).await;
        }
    });
}

impl DiskSpool {
    async fn create(size: u64) -> Result<DiskSpool, String> {
        let free = free_quota().await?;
        if (size as f64) + QUOTA_MARGIN > free {
            return Err(format!("the origin's quota has {free} bytes free"));
        }
        let directory = spool_directory().await?;
        sweep(&directory).await;
        let name =
            format!("{}-{}", js_sys::Date::now() as u64, protocol::encoding::b64(&crate::crypto::random_bytes::<9>()));
        let options = web_sys::FileSystemGetFileOptions::new();
        options.set_create(true);
        let file: web_sys::FileSystemFileHandle =
            awaited(directory.get_file_handle_with_options(&name, &options)).await?;
        if !has_method(&file, "createWritable") {
            let _ = JsFuture::from(directory.remove_entry(&name)).await;
            return Err("no createWritable".into());
        }
        let writer = awaited(file.create_writable()).await?;
        Ok(DiskSpool { directory, name, file, writer })
    }

    async fn write(&self, offset: u64, bytes: &Uint8Array) -> Result<(), String> {
        let params = web_sys::WriteParams::new(web_sys::WriteCommandType::Write);
        params.set_position(Some(offset as f64));
        params.set_data_opt_u8_array(Some(bytes));
        let written = self.writer.write_with_write_params(&params).map_err(describe)?;
        JsFuture::from(written).await.map(|_| ()).map_err(|e| match quota_exceeded(&e) {
            true => "There is not enough free disk space for this file; it was not saved.".to_owned(),
            false => describe(e),
        })
    }

    /// Commits the writes; the file as the browser now keeps it on disk.
    async fn close(self) -> Result<web_sys::File, String> {
        JsFuture::from(self.writer.close()).await.map_err(describe)?;
        awaited(self.file.get_file()).await
    }
}

/// Deletes every spooled download of this origin ("Remove this device's data"): saved
/// files wait there in plain text for [`KEEP_SAVED`]. Nothing to do without OPFS.
pub async fn remove_all() -> Result<(), String> {
    let Ok(root) = origin_root().await else { return Ok(()) };
    let options = web_sys::FileSystemRemoveOptions::new();
    options.set_recursive(true);
    match JsFuture::from(root.remove_entry_with_options(DIRECTORY, &options)).await {
        Ok(_) => Ok(()),
        Err(e) if e.dyn_ref::<web_sys::DomException>().is_some_and(|e| e.name() == "NotFoundError") => Ok(()),
        Err(e) => Err(describe(e)),
    }
}

/// The root of the origin private file system, where the browser has one.
async fn origin_root() -> Result<web_sys::FileSystemDirectoryHandle, String> {
    awaited(storage_with("getDirectory")?.get_directory()).await
}

/// `navigator.storage`, if it has `method` (WebKitGTK has no `navigator.storage` at all).
fn storage_with(method: &str) -> Result<web_sys::StorageManager, String> {
    let navigator = web_sys::window().ok_or("no window")?.navigator();
    let storage = Reflect::get(&navigator, &"storage".into()).map_err(describe)?;
    if !has_method(&storage, method) {
        return Err(format!("no navigator.storage.{method}"));
    }
    Ok(storage.unchecked_into())
}

/// The spool's directory in the origin private file system (created on first use).
async fn spool_directory() -> Result<web_sys::FileSystemDirectoryHandle, String> {
    let root = origin_root().await?;
    let options = web_sys::FileSystemGetDirectoryOptions::new();
    options.set_create(true);
    awaited(root.get_directory_handle_with_options(DIRECTORY, &options)).await
}

/// Bytes the origin may still store (`navigator.storage.estimate()`).
async fn free_quota() -> Result<f64, String> {
    let estimate = storage_with("estimate")?.estimate().map_err(describe)?;
    let estimate = JsFuture::from(estimate).await.map_err(describe)?;
    let number = |key: &str| Reflect::get(&estimate, &key.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
    Ok(number("quota") - number("usage"))
}

/// Deletes spool files older than [`KEEP_SAVED`]: saved by a page that has since closed.
/// A file still open for writing elsewhere refuses and stays.
async fn sweep(directory: &web_sys::FileSystemDirectoryHandle) {
    let now = js_sys::Date::now() as u64;
    let keys = directory.keys();
    let mut stale = Vec::new();
    while let Ok(next) = keys.next().map(JsFuture::from) {
        let Ok(step) = next.await else { break };
        if Reflect::get(&step, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true) {
            break;
        }
        let Some(name) = Reflect::get(&step, &"value".into()).ok().and_then(|v| v.as_string()) else { continue };
        let made = name.split('-').next().and_then(|ms| ms.parse::<u64>().ok()).unwrap_or(0);
        if now.saturating_sub(made) > KEEP_SAVED.as_millis() as u64 {
            stale.push(name);
        }
    }
    for name in stale {
        let _ = JsFuture::from(directory.remove_entry(&name)).await;
    }
}

async fn awaited<T: JsCast>(promise: js_sys::Promise) -> Result<T, String> {
    JsFuture::from(promise).await.map_err(describe)?.dyn_into::<T>().map_err(|_| "unexpected value".to_owned())
}

fn has_method(object: &JsValue, name: &str) -> bool {
    !object.is_undefined() && Reflect::get(object, &name.into()).map(|f| f.is_function()).unwrap_or(false)
}

fn quota_exceeded(error: &JsValue) -> bool {
    error.dyn_ref::<web_sys::DomException>().is_some_and(|e| e.name() == "QuotaExceededError")
}

fn describe(error: JsValue) -> String {
    error
        .dyn_ref::<web_sys::DomException>()
        .map(|e| format!("{}: {}", e.name(), e.message()))
        .unwrap_or_else(|| format!("{error:?}"))
}
