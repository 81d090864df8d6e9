//! Where a file's bytes come from: a picked or dropped file (a `Blob`, read a chunk at a
//! time, never whole) or a buffer already in memory (the in-page benchmark). Either way
//! the pipeline sees the *padded* content, one chunk at a time.
//!
//! Uploading reads a file twice (hash, then encrypt). For files up to [`KEEP_BYTES`]
//! (padded) the chunks read by the first pass are kept for the second, which then does
//! not read the file again; larger files are read twice, so memory stays at a few chunks.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::Uint8Array;
use protocol::objects::{self, CHUNK_BYTES};

use crate::files::read_slice;

/// Largest padded file whose chunks are kept between the two passes of an upload.
pub const KEEP_BYTES: u64 = 128 * 1024 * 1024;

enum Bytes {
    Blob(web_sys::Blob),
    Buffer(Uint8Array),
}

/// The bytes to share.
pub struct Source {
    bytes: Bytes,
    /// Chunks read once and wanted once more, by index.
    kept: RefCell<HashMap<u32, Uint8Array>>,
    keep: bool,
}

impl Source {
    /// A picked or dropped file.
    pub fn blob(blob: web_sys::Blob) -> Self {
        let keep = objects::padded_size(blob.size() as u64).is_some_and(|p| p <= KEEP_BYTES);
        Self { bytes: Bytes::Blob(blob), kept: RefCell::default(), keep }
    }

    /// Bytes already in memory (nothing to keep: reading them is free).
    pub fn buffer(buffer: Uint8Array) -> Self {
        Self { bytes: Bytes::Buffer(buffer), kept: RefCell::default(), keep: false }
    }

    /// The original size in bytes.
    pub fn size(&self) -> u64 {
        match &self.bytes {
            Bytes::Blob(b) => b.size() as u64,
            Bytes::Buffer(b) => u64::from(b.length()),
        }
    }

    /// Bytes `start..end` of the file itself (`end <= size`).
    async fn read(&self, start: u64, end: u64) -> Result<Uint8Array, String> {
        match &self.bytes {
            Bytes::Blob(b) => read_slice(b, start, end).await,
            Bytes::Buffer(b) => Ok(b.subarray(start as u32, end as u32)),
        }
    }

    /// Chunk `index` of the padded content of `padded` bytes. A chunk wholly inside the
    /// file goes to WebCrypto without a copy through wasm memory; the one that reaches the
    /// end gets the padding appended. The first read of a kept file keeps the chunk; the
    /// second hands it over.
    pub async fn padded_chunk(&self, padded: u64, index: u32) -> Result<Uint8Array, String> {
        if let Some(chunk) = self.kept.borrow_mut().remove(&index) {
            return Ok(chunk);
        }
        let chunk = self.read_padded(padded, index).await?;
        if self.keep {
            self.kept.borrow_mut().insert(index, chunk.clone());
        }
        Ok(chunk)
    }

    async fn read_padded(&self, padded: u64, index: u32) -> Result<Uint8Array, String> {
        let size = self.size();
        let start = u64::from(index) * CHUNK_BYTES;
        let end = start + objects::chunk_len(padded, index);
        if end <= size {
            return self.read(start, end).await;
        }
        let out = Uint8Array::new_with_length((end - start) as u32);
        if start < size {
            let part = self.read(start, size).await?;
            out.set(&part, 0);
        }
        let from = start.max(size);
        let padding = objects::padding_range(size, padded, from, end);
        out.set(&Uint8Array::from(padding.as_slice()), (from - start) as u32);
        Ok(out)
    }
}
