//! `mock-server mint-tokens`: storage tokens made offline (e.g. to fund new rooms or hand
//! out storage), recorded in the ledger as "minted".

use std::path::Path;

use protocol::encoding::b64;
use protocol::storage_token::{round_size, token_hash};

use crate::cli::{CliError, open_data_dir};
use crate::clock::{now_micros, random_bytes};
use crate::ledger::Ledger;
use crate::ledger_key;

/// Mints `count` tokens worth `size` bytes (rounded up to the bucket); returns them.
pub fn mint(data_dir: &Path, count: u32, size: u64) -> Result<(Vec<String>, u64), CliError> {
    let _lock = open_data_dir(data_dir)?;
    let size = round_size(size).map_err(|e| CliError::invalid(e.message))?;
    let key = ledger_key::load_public(data_dir)?
        .ok_or_else(|| CliError::not_found("this data directory has no ledger key: run `mock-server init` first"))?;
    let ledger = Ledger::open(&data_dir.join("global.sqlite"), key)?;
    let mut tokens = Vec::new();
    for _ in 0..count {
        let token = random_bytes::<32>();
        ledger
            .record_issue(&token_hash(&token), size, "minted", protocol::storage_token::TokenScope::Any, now_micros())
            .map_err(|e| CliError::failed(e.message))?;
        tokens.push(b64(&token));
    }
    Ok((tokens, size))
}
