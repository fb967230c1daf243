//! Listing messages: filters, order and cursor pagination.

use super::*;

pub async fn list_filters_by_recipient_and_status(store: Store) {
    for i in 0..12 {
        let recipient = if i % 3 == 0 {
            "+14155550111"
        } else {
            "+14155550122"
        };
        insert(&store, &format!("f{i:02}"), recipient, at(i)).await;
        if i % 2 == 0 {
            set(&store, &format!("f{i:02}"), &update(Queued, at(i + 100))).await;
        }
    }
    let ids = |page: mms_gateway::store::MessagePage| -> Vec<String> {
        page.messages.into_iter().map(|m| m.id).collect()
    };
    let query = |recipient: Option<&str>, status: Option<MessageStatus>| MessageQuery {
        recipient_number: recipient.map(str::to_owned),
        status,
        limit: 100,
        cursor: None,
        ..MessageQuery::default()
    };

    let all = store.list_messages(&query(None, None)).await.expect("list");
    assert_eq!(all.next_cursor, None);
    let expected: Vec<String> = (0..12).rev().map(|i| format!("f{i:02}")).collect();
    assert_eq!(ids(all.clone()), expected, "newest first");
    assert!(
        all.messages.iter().all(|m| !m.events.is_empty()),
        "events attached"
    );

    let to_111 = store
        .list_messages(&query(Some("+14155550111"), None))
        .await
        .expect("list");
    assert_eq!(ids(to_111), ["f09", "f06", "f03", "f00"]);
    let queued = store
        .list_messages(&query(None, Some(Queued)))
        .await
        .expect("list");
    assert_eq!(ids(queued), ["f10", "f08", "f06", "f04", "f02", "f00"]);
    let both = store
        .list_messages(&query(Some("+14155550111"), Some(Accepted)))
        .await
        .expect("list");
    assert_eq!(ids(both), ["f09", "f03"]);
    let none = store
        .list_messages(&query(Some("+19999999999"), None))
        .await
        .expect("list");
    assert!(none.messages.is_empty() && none.next_cursor.is_none());
}

pub async fn list_pages_have_no_duplicates_or_gaps(store: Store) {
    // 23 messages, several sharing a creation time, so the id breaks ties.
    for i in 0..23 {
        insert(&store, &format!("p{i:02}"), "+14155550101", at(i / 4)).await;
    }
    for limit in [1, 5, 7, 23, 100] {
        let seen: Vec<_> = all_pages(&store, limit)
            .await
            .into_iter()
            .map(|m| (m.created_at, m.id))
            .collect();
        assert_eq!(seen.len(), 23, "limit {limit}");
        let unique: HashSet<_> = seen.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(unique.len(), 23, "limit {limit}: duplicates");
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(
            seen, sorted,
            "limit {limit}: newest first, id descending on ties"
        );
    }
    // Limits are clamped to 1..=100.
    let q = MessageQuery {
        limit: 0,
        ..MessageQuery::default()
    };
    assert_eq!(
        store.list_messages(&q).await.expect("list").messages.len(),
        1
    );
}

pub async fn bad_cursor_is_an_error(store: Store) {
    for cursor in ["not a cursor", "", "MTIz"] {
        let q = MessageQuery {
            cursor: Some(cursor.to_owned()),
            ..MessageQuery::default()
        };
        let result = store.list_messages(&q).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor)),
            "{cursor:?}: {result:?}"
        );
    }
}
