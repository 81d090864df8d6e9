//! The ledger on the edge: SQLite-backed Durable Objects holding token records, each
//! spend a compare-and-set inside one object (it runs one event at a time, and the rules
//! of [`api_core::ledger`] run inside one `transactionSync`).
//!
//! Sharded by name so no object carries every token and the offline audit can enumerate
//! them: storage tokens by the first character of their hash (`tokens-<c>`, 64 objects),
//! SSO tokens by their issuance key (`sso-<key id>`: a key's spent set and its count
//! against the cap live together, so the cap is exact).
//!
//! Rooms call it through [`call`] (`POST https://ledger/<op>` to the shard's stub).

use api_core::ledger::{self, LedgerEntry, LedgerExport, LedgerTxn, Spend, Table};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ledger_link::SealedLink;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue, State, durable_object};

use crate::answer::{MAX_API_BODY, json, read_body, refusal, refuse};
use crate::runtime::{now, random_bytes, setting};

const CREATE_TABLES: &str =
    "CREATE TABLE IF NOT EXISTS tokens (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
     CREATE TABLE IF NOT EXISTS sso_keys (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID";

/// The shard of a storage token (by hash).
pub fn token_shard(hash: &str) -> String {
    format!("tokens-{}", hash.chars().next().unwrap_or('_'))
}

/// Every storage-token shard (hashes are base64url).
pub fn all_token_shards() -> impl Iterator<Item = String> {
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".chars().map(|c| format!("tokens-{c}"))
}

/// The shard of an SSO issuance key.
pub fn sso_shard(key_id: &str) -> String {
    format!("sso-{key_id}")
}

/// The offline ledger key's public half (`LEDGER_PUBLIC_KEY`): links in the ledger are
/// sealed to it. Without it no token can be issued or spent here.
pub fn ledger_key(env: &Env) -> std::result::Result<PublicKey, ErrorBody> {
    setting(env, "LEDGER_PUBLIC_KEY").and_then(|k| PublicKey::parse(k.trim()).ok()).ok_or_else(|| {
        ErrorBody::new(
            ErrorCode::Unavailable,
            "this deployment has no ledger key (LEDGER_PUBLIC_KEY): it takes no tokens",
        )
    })
}

/// Seals `payload` ("room:<id>", "sso:<key id>") to the ledger key with a fresh ephemeral key.
pub fn seal_link(ledger: &PublicKey, payload: &str) -> SealedLink {
    let ephemeral = loop {
        if let Ok(k) = IdentityKey::from_secret_bytes(&random_bytes::<32>()) {
            break k;
        }
    };
    protocol::ledger_link::seal(ledger, payload.as_bytes(), &ephemeral, random_bytes::<12>())
}

/// Spends the storage token `hash` (worth at least `min` bytes) for `purpose` ("room:<id>"
/// pays for a room, which an upload-only token cannot; "object:<id>" for an upload);
/// returns its value.
pub async fn spend_token(env: &Env, hash: &str, min: u64, purpose: &str) -> std::result::Result<u64, ErrorBody> {
    let key = ledger_key(env)?;
    let spend = Spend { at: now().0, paid_for: seal_link(&key, purpose) };
    let for_room = purpose.starts_with(protocol::storage_token::ROOM_PURPOSE_PREFIX);
    let op = LedgerOp::Spend { hash: hash.to_owned(), min, for_room, spend };
    call(env, &token_shard(hash), &op).await
}

/// Gives the storage token `hash` back (what it paid for did not happen).
pub async fn refund_token(env: &Env, hash: &str) -> std::result::Result<(), ErrorBody> {
    let op = LedgerOp::Refund { hash: hash.to_owned() };
    call::<serde_json::Value>(env, &token_shard(hash), &op).await.map(|_| ())
}

/// One ledger operation, as a room sends it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LedgerOp {
    Record {
        hash: String,
        entry: LedgerEntry,
    },
    Check {
        hash: String,
        min: u64,
    },
    Spend {
        hash: String,
        min: u64,
        for_room: bool,
        spend: Spend,
    },
    Refund {
        hash: String,
    },
    SsoSpent {
        spent_id: String,
    },
    SpendSso {
        spent_id: String,
        key_id: String,
        cap: u64,
        entry: LedgerEntry,
    },
    RefundSso {
        spent_id: String,
        key_id: String,
    },
    /// Everything this shard holds (for the offline audit).
    Export,
}

/// Every row of `table` (`tokens` or `sso_keys`), decoded.
fn all_rows<T: DeserializeOwned>(sql: &SqlStorage, table: &str) -> std::result::Result<Vec<(String, T)>, ErrorBody> {
    let cursor = sql.exec(&format!("SELECT key, value FROM {table} ORDER BY key"), None).map_err(backend)?;
    let mut rows = Vec::new();
    for row in cursor.raw() {
        match row.map_err(backend)?.as_slice() {
            [SqlStorageValue::String(key), SqlStorageValue::Blob(value)] => {
                rows.push((key.clone(), serde_json::from_slice(value).map_err(backend)?));
            }
            _ => return Err(backend(format!("a row of {table} is not (key, value)"))),
        }
    }
    Ok(rows)
}

/// The whole ledger, gathered from every shard: the storage-token shards and the SSO
/// shards of the key ids in this deployment's key set (keep retired keys in the set,
/// revoked, so their spends stay in the audit).
pub async fn export(env: &Env) -> std::result::Result<LedgerExport, ErrorBody> {
    let mut shards: Vec<String> = all_token_shards().collect();
    if let Some((_, keyset)) = crate::sso::configured(env) {
        shards.extend(keyset.keys.iter().map(|k| sso_shard(&k.key_id)));
    }
    let mut all = LedgerExport::default();
    for shard in shards {
        let part: LedgerExport = call(env, &shard, &LedgerOp::Export).await?;
        all.tokens.extend(part.tokens);
        all.sso_keys.extend(part.sso_keys);
    }
    Ok(all)
}

fn ledger_stub(env: &Env, shard: &str) -> Result<worker::Stub> {
    env.durable_object("LEDGER")?.id_from_name(shard)?.get_stub()
}

/// Runs `op` on shard `shard` and decodes its answer.
pub async fn call<T: DeserializeOwned>(env: &Env, shard: &str, op: &LedgerOp) -> std::result::Result<T, ErrorBody> {
    let unavailable = |e: &dyn std::fmt::Display| {
        worker::console_error!("ledger {shard}: {e}");
        ErrorBody::new(ErrorCode::Unavailable, "the ledger did not answer; try again")
    };
    let body = serde_json::to_string(op).map_err(|e| unavailable(&e))?;
    let stub = ledger_stub(env, shard).map_err(|e| unavailable(&e))?;
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post).with_body(Some(body.into()));
    let request = Request::new_with_init("https://ledger/op", &init).map_err(|e| unavailable(&e))?;
    let mut response = stub.fetch_with_request(request).await.map_err(|e| unavailable(&e))?;
    if response.status_code() == 200 {
        response.json::<T>().await.map_err(|e| unavailable(&e))
    } else {
        match response.json::<protocol::error::HttpError>().await {
            Ok(e) => Err(e.error),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

/// The shard's tables inside one transaction.
struct SqlTxn<'a>(&'a SqlStorage);

fn backend(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("ledger storage failed: {e}"))
}

fn table(t: Table) -> &'static str {
    match t {
        Table::Tokens => "tokens",
        Table::SsoKeys => "sso_keys",
    }
}

impl LedgerTxn for SqlTxn<'_> {
    fn read(&mut self, t: Table, key: &str) -> std::result::Result<Option<Vec<u8>>, ErrorBody> {
        let sql = format!("SELECT value FROM {} WHERE key = ?", table(t));
        let cursor = self.0.exec(&sql, vec![SqlStorageValue::String(key.into())]).map_err(backend)?;
        for row in cursor.raw() {
            if let Some(SqlStorageValue::Blob(v)) = row.map_err(backend)?.into_iter().next() {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    fn write(&mut self, t: Table, key: &str, value: &[u8]) -> std::result::Result<(), ErrorBody> {
        let sql = format!("INSERT OR REPLACE INTO {} (key, value) VALUES (?, ?)", table(t));
        self.0
            .exec(&sql, vec![SqlStorageValue::String(key.into()), SqlStorageValue::Blob(value.to_vec())])
            .map_err(backend)?;
        Ok(())
    }

    fn delete(&mut self, t: Table, key: &str) -> std::result::Result<bool, ErrorBody> {
        let existed = self.read(t, key)?.is_some();
        let sql = format!("DELETE FROM {} WHERE key = ?", table(t));
        self.0.exec(&sql, vec![SqlStorageValue::String(key.into())]).map_err(backend)?;
        Ok(existed)
    }
}

#[durable_object]
pub struct LedgerObject {
    state: State,
}

impl LedgerObject {
    fn run(&self, op: LedgerOp) -> std::result::Result<serde_json::Value, ErrorBody> {
        let sql = self.state.storage().sql();
        for statement in CREATE_TABLES.split(';') {
            sql.exec(statement, None).map_err(backend)?;
        }
        crate::sql_kv::in_transaction(&self.state.storage(), || {
            let mut tx = SqlTxn(&sql);
            let value = match &op {
                LedgerOp::Record { hash, entry } => {
                    ledger::record_issue(&mut tx, hash, entry).map(|()| serde_json::Value::Null)?
                }
                LedgerOp::Check { hash, min } => {
                    serde_json::to_value(ledger::check(&mut tx, hash, *min)?).map_err(backend)?
                }
                LedgerOp::Spend { hash, min, for_room, spend } => {
                    ledger::spend(&mut tx, hash, *min, *for_room, spend.clone())?.into()
                }
                LedgerOp::Refund { hash } => ledger::refund(&mut tx, hash).map(|()| serde_json::Value::Null)?,
                LedgerOp::SsoSpent { spent_id } => ledger::sso_spent(&mut tx, spent_id)?.into(),
                LedgerOp::SpendSso { spent_id, key_id, cap, entry } => {
                    ledger::spend_sso(&mut tx, spent_id, key_id, *cap, entry)?.into()
                }
                LedgerOp::RefundSso { spent_id, key_id } => {
                    ledger::refund_sso(&mut tx, spent_id, key_id).map(|()| serde_json::Value::Null)?
                }
                LedgerOp::Export => serde_json::to_value(LedgerExport {
                    tokens: all_rows(&sql, "tokens")?,
                    sso_keys: all_rows(&sql, "sso_keys")?,
                })
                .map_err(backend)?,
            };
            Ok(value)
        })
    }
}

impl DurableObject for LedgerObject {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let body = match read_body(&mut req, MAX_API_BODY).await? {
            Ok(body) => body,
            Err(e) => return refusal(e),
        };
        let op: LedgerOp = match serde_json::from_slice(&body) {
            Ok(op) => op,
            Err(e) => return refuse(ErrorCode::MalformedRequest, format!("not a ledger operation: {e}")),
        };
        match self.run(op) {
            Ok(value) => json(&value),
            Err(e) => refusal(e),
        }
    }
}
