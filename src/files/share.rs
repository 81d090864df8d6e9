//! The two user actions on files, end to end: *share* (prepare an image's thumbnail and
//! preview, upload, then post the handle as an encrypted message) and *download* (fetch,
//! check, decrypt, save). Each shows up in the transfer list while it runs.

use protocol::envelope::Content;
use protocol::identity::PublicKey;
use protocol::objects::{self, FileHandle};

use crate::files::download::Purpose;
use crate::files::transfers::{TransferStatus, Transfers};
use crate::files::upload::{self, Payer, UploadError};
use crate::files::{download, human_size, images};
use crate::session::RoomSession;

/// The type to record for a file whose browser reported none.
const UNKNOWN_TYPE: &str = "application/octet-stream";

/// Whether a file is an image this client makes thumbnails of (SVG is shared as a file:
/// it is a document that can carry scripts, not a picture to render inline).
pub fn is_picture(mime: &str) -> bool {
    matches!(mime, "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "image/bmp" | "image/avif")
}

/// Uploads `file` and posts it in the room (or whispers it to `to`). Failures end up in
/// the transfer list, where the user sees them.
pub async fn share(session: RoomSession, transfers: Transfers, file: web_sys::File, to: Option<PublicKey>) {
    // The name travels to every member: send it already cleaned (they clean it again).
    let name = protocol::names::safe_file_name(&file.name());
    let mime = match file.type_() {
        t if t.is_empty() => UNKNOWN_TYPE.to_owned(),
        t => t,
    };
    let size = file.size() as u64;
    let t = transfers.start(&name, true, size);
    if size > objects::MAX_FILE_BYTES {
        t.finish(TransferStatus::Failed(format!(
            "This file is {}; files are limited to {}.",
            human_size(size),
            human_size(objects::MAX_FILE_BYTES)
        )));
        return;
    }
    if to.is_none() && session.current_key().is_none() {
        t.finish(TransferStatus::Failed("You can share files once the owner accepts you.".into()));
        return;
    }
    let room = session.room_id();
    let member = session.identity();
    let payer = Payer { room: &room, member: &member };

    let picture = if is_picture(&mime) { images::prepare(&file).await.ok() } else { None };
    let result = async {
        let preview = match picture.as_ref().and_then(|p| p.preview.clone()) {
            Some(blob) => {
                let p = transfers.start(&format!("Preview of {name}"), true, blob.size() as u64);
                let handle = upload::upload(&blob, &format!("preview-{name}.jpg"), "image/jpeg", &payer, &p).await;
                p.finish(status_of(&handle));
                Some(handle?)
            }
            None => None,
        };
        let full = upload::upload(&file, &name, &mime, &payer, &t).await?;
        let content = match picture {
            Some(p) => Content::Image { full, preview, thumbnail: p.thumbnail, width: p.width, height: p.height },
            None => Content::File { file: full },
        };
        session.send_content(content, to).map_err(UploadError::Failed)
    }
    .await;
    t.finish(status_of(&result));
}

fn status_of<T>(result: &Result<T, UploadError>) -> TransferStatus {
    match result {
        Ok(_) => TransferStatus::Done,
        Err(UploadError::Cancelled) => TransferStatus::Cancelled,
        Err(UploadError::Failed(why)) => TransferStatus::Failed(why.clone()),
    }
}

/// Fetches and checks a shared file (the reason of a failure also shows in the transfer
/// list), to show or to save it.
pub async fn fetch(transfers: Transfers, handle: &FileHandle, purpose: Purpose) -> Result<web_sys::Blob, String> {
    let t = transfers.start(&handle.name, false, handle.size);
    let result = download::fetch(handle, &t, purpose).await;
    t.finish(match &result {
        Ok(_) => TransferStatus::Done,
        Err(_) if t.cancelled() => TransferStatus::Cancelled,
        Err(e) => TransferStatus::Failed(e.clone()),
    });
    result
}

/// Downloads a shared file and saves it under its original name.
pub async fn download_and_save(transfers: Transfers, handle: &FileHandle) -> Result<(), String> {
    let blob = fetch(transfers, handle, Purpose::Save).await?;
    download::save(&blob, &handle.name)
}
