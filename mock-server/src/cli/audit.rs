//! `mock-server audit`: the ledger seen with the offline key: which rooms issued how many
//! tokens and bytes, what was spent on what, what is still unspent, and whether every
//! room's own count of issued tokens matches the ledger.

use std::collections::BTreeMap;
use std::path::Path;

use api_core::ledger::LedgerExport;
use protocol::ledger_link;
use room_core::schema::{self, BudgetRecord};
use room_core::storage::KvStore;
use serde::Serialize;

use crate::cli::{CliError, open_data_dir};
use crate::ledger::Ledger;
use crate::ledger_key;
use crate::sqlite_kv::{Database, Durability, SqliteKv};

/// One issuer's line in the audit.
#[derive(Debug, Default, Serialize)]
pub struct IssuerLine {
    pub tokens: u64,
    pub bytes: u64,
    pub spent_tokens: u64,
    pub spent_bytes: u64,
    /// The room's own count of issued tokens (rooms only).
    pub room_says_issued: Option<u64>,
}

/// The audit report.
#[derive(Debug, Default, Serialize)]
pub struct Audit {
    pub tokens: u64,
    pub bytes_issued: u64,
    pub bytes_spent: u64,
    pub bytes_unspent: u64,
    /// Spends by purpose kind ("room", "object").
    pub spent_on: BTreeMap<String, u64>,
    /// By issuer: "minted" or "room:<id>".
    pub issuers: BTreeMap<String, IssuerLine>,
    /// Rooms whose budget record disagrees with the ledger.
    pub mismatches: Vec<String>,
    /// SSO issuance keys: rooms their tokens paid for, against their cap. A key near its
    /// cap long before its period ends may have leaked: revoke it (`sso revoke`).
    pub sso_keys: BTreeMap<String, crate::ledger::SsoKeyCount>,
    /// Encrypted chunks in the document store, and their bytes.
    pub stored_chunks: u64,
    pub stored_bytes: u64,
}

/// Reads the ledger with the private ledger key.
pub fn run(data_dir: &Path, ledger_private: &Path) -> Result<Audit, CliError> {
    let _lock = open_data_dir(data_dir)?;
    let key = ledger_key::load_private(ledger_private).map_err(CliError::not_found)?;
    let public =
        ledger_key::load_public(data_dir)?.ok_or_else(|| CliError::not_found("no ledger.pub: not initialised"))?;
    if public != key.public_key() {
        return Err(CliError::invalid("this ledger key is not the one of this data directory"));
    }
    let ledger = Ledger::open(&data_dir.join("global.sqlite"), public)?;
    let export = LedgerExport {
        tokens: ledger.entries().map_err(|e| CliError::failed(e.message))?,
        sso_keys: ledger.sso_counts().map_err(|e| CliError::failed(e.message))?,
    };
    let mut audit = tally(export, &key)?;
    let objects = crate::object_store::ObjectStore::open(&data_dir.join("global.sqlite"))?;
    (audit.stored_bytes, audit.stored_chunks) = objects.stored_bytes().map_err(|e| CliError::failed(e.message))?;
    // Each room's own record of issued tokens must match the ledger.
    let rooms_dir = data_dir.join("rooms");
    for file in std::fs::read_dir(&rooms_dir).into_iter().flatten().flatten() {
        let path = file.path();
        let Some(room) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".sqlite")) else {
            continue;
        };
        let store = SqliteKv::open(&path, Database::Room, Durability::Full, false)
            .map_err(|e| CliError::invalid(e.to_string()))?;
        let budget: BudgetRecord = match store.get(schema::BUDGET_KEY).map_err(|e| CliError::invalid(e.to_string()))? {
            Some(b) => schema::decode("budget", &b).map_err(|e| CliError::invalid(e.to_string()))?,
            None => BudgetRecord::default(),
        };
        let line = audit.issuers.entry(format!("room:{room}")).or_default();
        line.room_says_issued = Some(budget.tokens_issued);
        if line.tokens != budget.tokens_issued {
            audit.mismatches.push(format!(
                "room {room}: its budget counts {} tokens issued, the ledger {}",
                budget.tokens_issued, line.tokens
            ));
        }
    }
    Ok(audit)
}

/// Audits a ledger exported by the edge (`GET /api/ledger/export`, saved to `file`): the
/// same tally; the rooms' own counts and the stored chunks are not in an export (the
/// edge cannot list its rooms), so they are left out.
pub fn run_export(file: &Path, ledger_private: &Path) -> Result<Audit, CliError> {
    let key = ledger_key::load_private(ledger_private).map_err(CliError::not_found)?;
    let text = std::fs::read(file).map_err(|e| CliError::not_found(format!("{}: {e}", file.display())))?;
    let export: LedgerExport = serde_json::from_slice(&text)
        .map_err(|e| CliError::invalid(format!("{} is not a ledger export: {e}", file.display())))?;
    tally(export, &key)
}

/// Opens every link of `export` with `key` and adds up issues and spends.
fn tally(export: LedgerExport, key: &protocol::identity::IdentityKey) -> Result<Audit, CliError> {
    let mut audit = Audit { sso_keys: export.sso_keys.into_iter().collect(), ..Audit::default() };
    let open = |link: &protocol::ledger_link::SealedLink| -> Result<String, CliError> {
        ledger_link::open(key, link)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|_| CliError::invalid("a ledger link does not open with this key"))
    };
    for (_, entry) in export.tokens {
        let issuer = open(&entry.issued_by)?;
        let line = audit.issuers.entry(issuer).or_default();
        line.tokens += 1;
        line.bytes += entry.size;
        audit.tokens += 1;
        audit.bytes_issued += entry.size;
        match &entry.spent {
            Some(spend) => {
                line.spent_tokens += 1;
                line.spent_bytes += entry.size;
                audit.bytes_spent += entry.size;
                let purpose = open(&spend.paid_for)?;
                let kind = purpose.split(':').next().unwrap_or("unknown").to_owned();
                *audit.spent_on.entry(kind).or_default() += entry.size;
            }
            None => audit.bytes_unspent += entry.size,
        }
    }
    Ok(audit)
}
