//! Budgets and storage tokens: issued out of a room's budget in buckets, spent exactly
//! once (also under 50 concurrent spends), refused clearly when exhausted or too small.

mod support;

use protocol::api::OwnerCall;
use protocol::api::{CreateAuthorization, CreateRoomResponse};
use protocol::error::{ErrorCode, HttpError};
use support::{SECRET, kv_rows, room_files, server};
use testkit::client::{create_fresh, create_room, owner, race_creations};

const MIB: u64 = 1024 * 1024;

/// Creates a room funded by `token`; the answer or the typed error.
async fn create_with_token(http: &str, token: &str) -> Result<CreateRoomResponse, HttpError> {
    create_fresh(http, CreateAuthorization::StorageToken { token: token.into() }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_come_out_of_the_budget_and_are_spent_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &["--initial-budget", &(100 * MIB).to_string()]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let issue = |size: u64| {
        let (http, room) = (http.clone(), &room);
        async move { owner(&http, &room.id, &room.owner, &OwnerCall::IssueToken { size }).await }
    };

    let token = issue(40 * MIB).await.unwrap();
    assert_eq!(token["size"], 40 * MIB);
    assert_eq!(token["remaining"], 60 * MIB);
    // Asking for more than is left: a clear error with the remaining budget, nothing debited.
    let rows = kv_rows(data.path(), &room.id);
    let (status, err) = issue(70 * MIB).await.unwrap_err();
    assert_eq!((status, err.error.code, err.error.limit), (507, ErrorCode::BudgetExhausted, Some(60 * MIB)));
    assert_eq!(kv_rows(data.path(), &room.id), rows);
    let budget = owner(&http, &room.id, &room.owner, &OwnerCall::Budget).await.unwrap();
    assert_eq!((budget["remaining"].as_u64(), budget["tokens_issued"].as_u64()), (Some(60 * MIB), Some(1)));

    // 50 concurrent room creations funded by the same token: exactly one wins.
    let files_before = room_files(data.path());
    let secret = token["token"].as_str().unwrap().to_owned();
    let (won, refused) = race_creations(&http, &CreateAuthorization::StorageToken { token: secret }, 50).await;
    assert_eq!(won.len(), 1, "exactly one spend succeeds");
    assert_eq!(won[0].budget, 40 * MIB, "the token's value becomes the new room's budget");
    assert!(refused.iter().all(|c| *c == ErrorCode::TokenSpent), "{refused:?}");
    assert_eq!(room_files(data.path()), files_before + 1, "only one room was created");

    // A token too small to fund a room is refused and stays unspent.
    let small = issue(MIB).await.unwrap();
    let small = small["token"].as_str().unwrap();
    for _ in 0..2 {
        let err = create_with_token(&http, small).await.unwrap_err();
        assert_eq!(err.error.code, ErrorCode::TokenTooSmall);
        assert_eq!(err.error.limit, Some(32 * MIB));
    }
    // Unknown and malformed tokens.
    let unknown = protocol::encoding::b64(&[9u8; 32]);
    assert_eq!(create_with_token(&http, &unknown).await.unwrap_err().error.code, ErrorCode::TokenUnknown);
    assert_eq!(create_with_token(&http, "nope").await.unwrap_err().error.code, ErrorCode::MalformedRequest);
    assert_eq!(room_files(data.path()), files_before + 1);
    // 59 MiB are left. 59 MiB rounds up to the 60 MiB bucket: too much.
    assert_eq!(issue(59 * MIB).await.unwrap_err().1.error.code, ErrorCode::BudgetExhausted);
    // Exhaust it exactly with bucket-sized tokens (56 MiB, then 3 MiB).
    assert_eq!(issue(56 * MIB).await.unwrap()["remaining"], 3 * MIB);
    assert_eq!(issue(3 * MIB).await.unwrap()["remaining"], 0);
    assert_eq!(issue(1).await.unwrap_err().1.error.code, ErrorCode::BudgetExhausted);
}
